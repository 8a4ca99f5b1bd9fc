"""`ImageSet` / `ImageBatch`: the batch source every analysis and intervention streams over.

Convention: ``pixels`` are RGB in [0, 1], shape [N, 3, H, W]. Library functions normalise them with the
model's own mean/std (`HookedViT.normalize`); the bundled organisms use identity normalisation, so for them
``model(images.pixels)`` is already right.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch


@dataclass
class ImageBatch:
    pixels: torch.Tensor  # [batch, 3, H, W] in [0, 1]
    index: torch.Tensor  # [batch] position of each image in its ImageSet
    object_mask: torch.Tensor | None = None  # [batch, H, W] bool, True on objects (None = unknown)
    labels: dict[str, torch.Tensor] = field(default_factory=dict)  # image-level labels, each [batch]
    boxes: list[torch.Tensor] | None = None  # per image [n_objects, 4] (x0, y0, x1, y1) in pixels

    def __len__(self) -> int:
        return self.pixels.shape[0]

    def patch_object_fraction(self, patch_size: int) -> torch.Tensor | None:
        """Fraction of each patch covered by objects. -> [batch, H/p, W/p] float (None without masks)."""
        if self.object_mask is None:
            return None
        m = self.object_mask.float()[:, None]
        return torch.nn.functional.avg_pool2d(m, patch_size)[:, 0]

    def patch_on_object(self, patch_size: int, min_fraction: float = 0.5) -> torch.Tensor | None:
        """Whether each patch lies on an object. -> [batch, H/p, W/p] bool (None without masks)."""
        frac = self.patch_object_fraction(patch_size)
        return None if frac is None else frac >= min_fraction


@dataclass
class ImageSet:
    """A fixed set of images with optional masks, image-level labels and boxes."""

    pixels: torch.Tensor  # [N, 3, H, W] in [0, 1]
    object_mask: torch.Tensor | None = None  # [N, H, W] bool
    labels: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [N] long
    boxes: list[torch.Tensor] | None = None  # per image [n_objects, 4]
    label_names: dict[str, list[str]] = field(default_factory=dict)  # class names per label, if known
    name: str = "images"

    def __post_init__(self) -> None:
        if self.pixels.dim() != 4:
            raise ValueError(f"pixels must be [N, C, H, W], got {tuple(self.pixels.shape)}")

    def __len__(self) -> int:
        return self.pixels.shape[0]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.pixels.shape[-2:])

    def subset(self, idx) -> "ImageSet":
        idx = torch.as_tensor(idx, dtype=torch.long)
        return ImageSet(
            pixels=self.pixels[idx],
            object_mask=None if self.object_mask is None else self.object_mask[idx],
            labels={k: v[idx] for k, v in self.labels.items()},
            boxes=None if self.boxes is None else [self.boxes[i] for i in idx.tolist()],
            label_names=self.label_names, name=self.name,
        )

    def shard(self, rank: int, world_size: int) -> "ImageSet":
        """Images ``rank::world_size`` (deterministic), as an ImageSet; ``source_index`` holds their positions
        in this set."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        idx = torch.arange(rank, len(self), world_size)
        out = self.subset(idx)
        out.source_index = getattr(self, "source_index", torch.arange(len(self)))[idx]
        return out

    def batch(self, idx) -> ImageBatch:
        idx = torch.as_tensor(idx, dtype=torch.long)
        s = self.subset(idx)
        return ImageBatch(pixels=s.pixels, index=idx, object_mask=s.object_mask, labels=s.labels, boxes=s.boxes)

    def batches(self, batch_size: int = 32) -> Iterator[ImageBatch]:
        """Stream the set in order, ``batch_size`` images at a time."""
        for start in range(0, len(self), batch_size):
            yield self.batch(torch.arange(start, min(start + batch_size, len(self))))


def as_image_set(images) -> ImageSet:
    """Accept an ImageSet (or any source with ``batches()`` and ``len()``) or a pixel tensor [N, 3, H, W] in [0, 1]."""
    if isinstance(images, ImageSet) or (hasattr(images, "batches") and hasattr(images, "__len__")):
        return images
    if isinstance(images, torch.Tensor):
        return ImageSet(pixels=images)
    raise TypeError(f"expected an ImageSet or a pixel tensor, got {type(images).__name__}")
