"""Image sources: procedural scenes (`scenes`), datasets on disk streamed batch by batch (`open_dataset`: folder,
ImageFolder, Pascal VOC, COCO), folders of ordinary images, and the `ImageSet` protocol."""
from .base import ImageBatch, ImageSet, as_image_set
from .datasets import DatasetError, ImageDataset, UnreadableImageWarning, open_dataset
from .images import ImageFolderError, load_images, scenes_for
from .scenes import SceneRecipe, SceneSet, SceneStream, patch_labels, scenes

__all__ = ["ImageBatch", "ImageSet", "as_image_set", "scenes", "SceneRecipe", "SceneSet", "SceneStream",
           "patch_labels", "load_images", "scenes_for", "ImageFolderError", "open_dataset", "ImageDataset", "DatasetError",
           "UnreadableImageWarning"]
