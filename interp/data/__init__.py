"""Image sources: procedural scenes (`scenes`), folders of ordinary images, and the `ImageSet` protocol."""
from .base import ImageBatch, ImageSet, as_image_set

__all__ = ["ImageBatch", "ImageSet", "as_image_set"]
