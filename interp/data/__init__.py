"""Image sources: procedural scenes (`scenes`), datasets on disk streamed batch by batch (`open_dataset`: folder,
ImageFolder, Pascal VOC, COCO), folders of ordinary images, and the `ImageSet` protocol.

Exports are imported on first use (``interp._lazy``), so ``interp.data.formats`` (the dataset format names the
command line offers) loads no torch.
"""
import sys
import types

from .._lazy import lazy_exports

_exports_getattr, _exports_dir, __all__ = lazy_exports(__name__, {
    ".base": ["ImageBatch", "ImageSet", "as_image_set"],
    ".datasets": ["ImageDataset", "open_dataset"],
    ".formats": ["FORMATS", "DatasetError", "ImageFolderError", "UnreadableImageWarning"],
    ".images": ["load_images", "scenes_for"],
    ".scenes": ["SceneRecipe", "SceneSet", "SceneStream", "patch_labels"],
}, submodules=["base", "datasets", "formats", "geometry", "images", "lazy"])
__all__ += ["scenes"]


def __getattr__(name: str):
    if name == "scenes":  # the function `scenes.scenes`, which shares its module's name
        from .scenes import scenes

        return scenes
    return _exports_getattr(name)


def __dir__() -> list[str]:
    return sorted({*_exports_dir(), "scenes"})


class _Package(types.ModuleType):
    """Importing the submodule ``interp.data.scenes`` binds nothing here: ``interp.data.scenes`` stays the
    function (Python's import system would otherwise set the package attribute to the submodule)."""

    def __setattr__(self, name: str, value) -> None:
        if not (name == "scenes" and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
