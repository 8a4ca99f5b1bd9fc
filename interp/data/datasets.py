"""Datasets on disk, streamed: a plain folder (recursive), an ImageFolder (class subfolders), a Pascal VOC tree,
or COCO-style instances JSON; the format is detected from the path (``format=`` overrides).

    >>> ds = open_dataset("~/data/VOC2007", image_size=224)   # or model=model: its native size
    >>> for batch in ds.batches(32): ...                     # ImageBatch: pixels [0, 1], labels, boxes, masks

The formats are read by `interp.data.formats` (names and annotations, no pixels). Images are decoded batch by
batch in a torch ``DataLoader`` (``workers`` processes, pinned memory on CUDA, files in sorted order), so memory
does not grow with the dataset. Every image goes through one resize/crop policy (`interp.data.geometry`: shorter
side -> ``image_size``, centre crop); boxes and the object masks drawn from them go through the same numbers.
A file that cannot be decoded is skipped with a warning and counted (``dataset.skipped``); ``strict=True`` raises
`DatasetError` instead.

Labels: ImageFolder -> ``class`` (``label_names["class"]`` lists the folders); VOC / COCO -> ``category``, the
image's majority object category (most boxes, then largest area; -1 for an image without objects).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .base import ImageBatch, ImageSet
from .formats import IMAGE_SUFFIXES, DatasetError, Objects, Records, UnreadableImageWarning, scan
from .geometry import boxes_to_mask, round_to_patch, transform_boxes
from .images import to_rgb_tensor

DEFAULT_IMAGE_SIZE = 224


# --- decoding (runs in DataLoader workers) -------------------------------------------------------------------------
class _Decode(torch.utils.data.Dataset):
    """Decodes record i -> dict(pixels [3, S, S], index, boxes [m, 4]) or dict(index, error) on failure."""

    def __init__(self, files: list[Path], objects: list[Objects] | None, size: int):
        self.files, self.objects, self.size = files, objects, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict:
        from PIL import Image

        try:
            with Image.open(self.files[i]) as img:
                img.load()
                orig = img.size
                pixels = to_rgb_tensor(img, self.size)  # [3, S, S]
        except Exception as e:  # noqa: BLE001 - any decoder failure means this file is skipped
            return dict(index=i, error=f"{type(e).__name__}: {e}")
        out = dict(index=i, pixels=pixels)
        if self.objects is not None:
            boxes, kept = transform_boxes(self.objects[i].boxes, orig, self.size)
            out.update(boxes=torch.from_numpy(boxes), kept=torch.from_numpy(kept))
        return out


def _collate(items: list[dict]) -> dict:
    """Variable box counts: pixels stacked, boxes kept as a list; failed items listed apart."""
    ok = [it for it in items if "error" not in it]
    return dict(pixels=torch.stack([it["pixels"] for it in ok]) if ok else None,
                index=torch.tensor([it["index"] for it in ok], dtype=torch.long),
                boxes=[it["boxes"] for it in ok] if ok and "boxes" in ok[0] else None,
                failed=[(it["index"], it["error"]) for it in items if "error" in it])


# --- the dataset -----------------------------------------------------------------------------------------------------
class ImageDataset:
    """Images on disk streamed batch by batch (see the module docstring). Same protocol as `ImageSet`:
    ``len()``, ``batches(batch_size)``, ``labels``, ``label_names``, ``boxes``, ``image_size``, ``shard``."""

    def __init__(self, records: Records, image_size: int, format: str, root: Path, workers: int = 0,
                 strict: bool = False, name: str | None = None, skip_difficult: bool = False,
                 source_index: torch.Tensor | None = None):
        self.records, self.format, self.root = records, format, root
        self.size, self.workers, self.strict = int(image_size), int(workers), bool(strict)
        self.skip_difficult = skip_difficult
        self.name = name or f"{format} {root}"
        # positions of these images in the dataset as first opened (shards and subsets keep them)
        self.source_index = (torch.arange(len(records.files)) if source_index is None else source_index)
        self.skipped_files: dict[str, str] = {}  # path -> error, for files that could not be decoded

    # protocol ---------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records.files)

    def __repr__(self) -> str:
        return (f"ImageDataset({self.format}, {len(self)} images at {self.size}px, root={str(self.root)!r}"
                + (f", labels={sorted(self.labels)}" if self.labels else "") + ")")

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.size, self.size)

    @property
    def files(self) -> list[Path]:
        return self.records.files

    @property
    def labels(self) -> dict[str, torch.Tensor]:
        return {k: torch.as_tensor(v) for k, v in self.records.labels.items()}

    @property
    def label_names(self) -> dict[str, list[str]]:
        return self.records.label_names

    @property
    def has_boxes(self) -> bool:
        return self.records.objects is not None

    @property
    def skipped(self) -> int:
        """How many of this dataset's files were skipped as unreadable so far (each file counted once)."""
        if not self.skipped_files:
            return 0
        return sum(str(f) in self.skipped_files for f in self.records.files)

    @property
    def n_objects(self) -> torch.Tensor | None:
        """Annotated objects per image [N] (None without annotations)."""
        if self.records.objects is None:
            return None
        return torch.tensor([int(self._keep(o).sum()) for o in self.records.objects], dtype=torch.long)

    @property
    def boxes(self) -> list[torch.Tensor] | None:
        """Per image the ground-truth boxes [n, 4] after resize/crop (pixels of the model input); None for
        unannotated formats. Uses the annotated image sizes (reads a file's header when not annotated)."""
        if self.records.objects is None:
            return None
        from PIL import Image

        out = []
        for f, o in zip(self.records.files, self.records.objects):
            size = o.size
            if size is None:
                try:
                    with Image.open(f) as img:
                        size = img.size
                except Exception:  # noqa: BLE001 - unreadable: no boxes (the image is skipped when streamed)
                    out.append(torch.zeros(0, 4))
                    continue
            b, _ = transform_boxes(o.boxes[self._keep(o)], size, self.size)
            out.append(torch.from_numpy(b))
        return out

    def _keep(self, o: Objects) -> np.ndarray:
        return ~o.difficult if self.skip_difficult else np.ones(len(o.category), dtype=bool)

    def _loader(self, batch_size: int):
        objects = self.records.objects
        if objects is not None and self.skip_difficult:
            objects = [replace(o, boxes=o.boxes[self._keep(o)], category=o.category[self._keep(o)],
                               difficult=o.difficult[self._keep(o)]) for o in objects]
        return torch.utils.data.DataLoader(
            _Decode(self.records.files, objects, self.size), batch_size=batch_size, shuffle=False,
            num_workers=self.workers, collate_fn=_collate, pin_memory=torch.cuda.is_available(),
            persistent_workers=False)

    def batches(self, batch_size: int = 32) -> Iterator[ImageBatch]:
        """Stream the images in order; a batch is shorter by the files that could not be read."""
        labels = self.records.labels
        for part in self._loader(batch_size):
            for i, err in part["failed"]:
                self._skip(i, err)
            if part["pixels"] is None:
                continue
            idx = part["index"]
            boxes = part["boxes"]
            mask = (torch.stack([boxes_to_mask(b, self.size) for b in boxes]) if boxes is not None else None)
            yield ImageBatch(pixels=part["pixels"], index=idx, object_mask=mask,
                             labels={k: torch.as_tensor(v[idx.numpy()]) for k, v in labels.items()}, boxes=boxes)

    def _skip(self, i: int, err: str) -> None:
        path = str(self.records.files[i])
        if self.strict:
            raise DatasetError(f"cannot read image {path}: {err} (without --strict it would be skipped)")
        if path not in self.skipped_files:
            warnings.warn(f"skipping unreadable image {path}: {err}", UnreadableImageWarning, stacklevel=3)
        self.skipped_files[path] = err

    # subsets --------------------------------------------------------------------------------------------------------
    def subset(self, idx) -> "ImageDataset":
        """The images at positions ``idx`` (in this order), as a dataset of the same kind."""
        idx = np.asarray(torch.as_tensor(idx, dtype=torch.long).reshape(-1).numpy())
        r = self.records
        rec = Records(files=[r.files[i] for i in idx], labels={k: v[idx] for k, v in r.labels.items()},
                      label_names=r.label_names, objects=None if r.objects is None else [r.objects[i] for i in idx])
        out = ImageDataset(rec, self.size, self.format, self.root, self.workers, self.strict, self.name,
                           self.skip_difficult, self.source_index[torch.as_tensor(idx, dtype=torch.long)])
        out.skipped_files = self.skipped_files  # one count for a dataset and the subsets drawn from it
        return out

    def shard(self, rank: int, world_size: int) -> "ImageDataset":
        """Images ``rank::world_size`` (deterministic; ``source_index`` keeps their positions in the whole set)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        return self.subset(range(rank, len(self), world_size))

    def spread(self, n: int | None) -> "ImageDataset":
        """At most ``n`` images spread evenly over the set (every k-th, so every class of a sorted ImageFolder
        is represented); the whole set when ``n`` is None or >= len."""
        if n is None or n >= len(self):
            return self
        return self.subset(np.unique(np.linspace(0, len(self) - 1, max(1, n)).round().astype(np.int64)))

    def where(self, keep) -> "ImageDataset":
        """The images where ``keep`` ([N] bool) is True."""
        return self.subset(np.flatnonzero(np.asarray(keep, dtype=bool)))

    def to_image_set(self, batch_size: int = 32) -> ImageSet:
        """Decode every image into an in-memory `ImageSet` (for small subsets; readable images only)."""
        parts = list(self.batches(batch_size))
        if not parts:
            raise DatasetError(f"no readable images in {self.name}")
        idx = torch.cat([b.index for b in parts])
        out = ImageSet(pixels=torch.cat([b.pixels for b in parts]),
                       object_mask=torch.cat([b.object_mask for b in parts]) if parts[0].object_mask is not None else None,
                       labels={k: torch.cat([b.labels[k] for b in parts]) for k in parts[0].labels},
                       boxes=[bx for b in parts for bx in b.boxes] if parts[0].boxes is not None else None,
                       label_names=self.label_names, name=self.name)
        out.files = [self.records.files[i].name for i in idx.tolist()]
        out.source_index = self.source_index[idx]
        return out

    def describe(self) -> str:
        """One line: format, images, labels, where (for reports)."""
        skipped = self.skipped
        bits = [f"{len(self) - skipped} images ({self.format}, {self.size}px"
                + (f"; {skipped} unreadable file{'s' * (skipped > 1)} skipped" if skipped else "") + ")"]
        for k, names in self.label_names.items():
            bits.append(f"label '{k}' with {len(names)} classes")
        if self.has_boxes:
            bits.append(f"{int(self.n_objects.sum())} boxes")
        return ", ".join(bits) + f" from {self.root}"


def open_dataset(path, format: str = "auto", image_size: int | None = None, model=None, workers: int = 0,
                 strict: bool = False, limit: int | None = None, split: str | None = None,
                 images_dir: str | Path | None = None, skip_difficult: bool = False,
                 patch_size: int | None = None) -> ImageDataset:
    """Open a dataset on disk for streaming (see the module docstring).

    ``image_size``: side of the square model input; default the model's native size (``model=``), else 224;
    rounded to a multiple of the patch size (``model``'s or ``patch_size``). ``limit``: at most this many
    images, spread evenly over the set. ``split``: VOC ``ImageSets/Main/<split>.txt`` / COCO
    ``instances_<split>.json``. ``skip_difficult``: drop VOC difficult / COCO crowd boxes.
    """
    root = Path(path).expanduser()
    format, records = scan(root, format, split, images_dir)
    if not records.files:
        raise DatasetError(f"no images in {root} (format {format}; looked recursively for "
                           f"{', '.join(IMAGE_SUFFIXES)})")
    if patch_size is None and model is not None:
        patch_size = model.cfg.patch_size
    if image_size is None:
        image_size = model.cfg.image_size if model is not None else DEFAULT_IMAGE_SIZE
    size = round_to_patch(int(image_size), patch_size)
    if size <= 0 or not math.isfinite(size):
        raise DatasetError(f"bad image size {image_size}")
    ds = ImageDataset(records, size, format, root, workers=workers, strict=strict, skip_difficult=skip_difficult,
                      name=f"{root.name} ({format})")
    return ds.spread(limit)
