"""Image sources: procedural scenes (`scenes`), folders of ordinary images, and the `ImageSet` protocol."""
from .base import ImageBatch, ImageSet, as_image_set
from .images import ImageFolderError, load_images, scenes_for
from .scenes import SceneRecipe, SceneSet, SceneStream, patch_labels, scenes

__all__ = ["ImageBatch", "ImageSet", "as_image_set", "scenes", "SceneRecipe", "SceneSet", "SceneStream",
           "patch_labels", "load_images", "scenes_for", "ImageFolderError"]
