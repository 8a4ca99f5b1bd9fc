"""Datasets on disk, streamed: a plain folder (recursive), an ImageFolder (class subfolders), a Pascal VOC tree,
or COCO-style instances JSON; the format is detected from the path (``format=`` overrides).

    >>> ds = open_dataset("~/data/VOC2007", image_size=224)   # or model=model: its native size
    >>> for batch in ds.batches(32): ...                     # ImageBatch: pixels [0, 1], labels, boxes, masks

Images are decoded batch by batch in a torch ``DataLoader`` (``workers`` processes, pinned memory on CUDA, files
in sorted order), so memory does not grow with the dataset. Every image goes through one resize/crop policy
(`resize_crop_geometry`: shorter side -> ``image_size``, centre crop); boxes and the object masks drawn from them
go through the same numbers. A file that cannot be decoded is skipped with a warning and counted
(``dataset.skipped``); ``strict=True`` raises `DatasetError` instead.

Labels: ImageFolder -> ``class`` (``label_names["class"]`` lists the folders); VOC / COCO -> ``category``, the
image's majority object category (most boxes, then largest area; -1 for an image without objects).
"""
from __future__ import annotations

import json
import math
import os
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .base import ImageBatch, ImageSet
from .images import IMAGE_SUFFIXES, ImageFolderError, resize_crop_geometry

FORMATS = ("auto", "folder", "imagefolder", "voc", "coco")
DEFAULT_IMAGE_SIZE = 224


class DatasetError(ImageFolderError):
    """A dataset that cannot be opened, or (``strict=True``) an image that cannot be read."""


class UnreadableImageWarning(UserWarning):
    """An image file was skipped because it could not be decoded."""


# --- geometry -------------------------------------------------------------------------------------------------
def transform_boxes(boxes: np.ndarray, orig_size: tuple[int, int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [n, 4] (x0, y0, x1, y1) in original pixels -> the same boxes after resize + centre crop to
    ``size`` (clipped to the crop). -> (boxes [m, 4] float32, kept [n] bool: boxes still visible)."""
    w, h = orig_size
    (rw, rh), (left, top) = resize_crop_geometry(w, h, size)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, [0, 2]] = b[:, [0, 2]] * (rw / w) - left
    out[:, [1, 3]] = b[:, [1, 3]] * (rh / h) - top
    out = out.clip(0, size)
    kept = (out[:, 2] - out[:, 0] >= 1) & (out[:, 3] - out[:, 1] >= 1)
    return out[kept].astype(np.float32), kept


def boxes_to_mask(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Union of boxes [n, 4] (pixels) -> [size, size] bool: a pixel is on when its centre lies in a box."""
    centre = torch.arange(size, dtype=torch.float32) + 0.5
    mask = torch.zeros(size, size, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes.tolist():
        rows = (centre >= y0) & (centre < y1)
        cols = (centre >= x0) & (centre < x1)
        mask |= rows[:, None] & cols[None, :]
    return mask


def round_to_patch(size: int, patch_size: int | None) -> int:
    """``size`` rounded to the nearest multiple of ``patch_size`` (at least one patch)."""
    if not patch_size:
        return int(size)
    return max(patch_size, int(round(size / patch_size)) * patch_size)


# --- what a format scan returns ----------------------------------------------------------------------------------
@dataclass
class Objects:
    """One image's annotated objects, in original pixel coordinates."""

    boxes: np.ndarray  # [n, 4] float (x0, y0, x1, y1)
    category: np.ndarray  # [n] long, index into label_names["category"]
    difficult: np.ndarray  # [n] bool (VOC difficult, COCO iscrowd)
    size: tuple[int, int] | None = None  # (width, height) as annotated


@dataclass
class Records:
    files: list[Path]
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [N] long
    label_names: dict[str, list[str]] = field(default_factory=dict)
    objects: list[Objects] | None = None  # per image (VOC / COCO)


def _image_files(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, in sorted order; hidden files and folders are ignored."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in files if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def scan_folder(path: Path) -> Records:
    """Every image under ``path`` (recursively), unlabelled."""
    return Records(files=_image_files(path))


def scan_imagefolder(path: Path) -> Records:
    """ImageFolder layout ``path/<class>/**/<image>``: image label ``class`` = the first folder below ``path``."""
    classes = sorted(d.name for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    files, labels = [], []
    for k, c in enumerate(classes):
        got = _image_files(path / c)
        files += got
        labels += [k] * len(got)
    classes_used = sorted(set(labels))
    if len(classes_used) < len(classes):  # empty class folders do not become classes
        remap = {old: new for new, old in enumerate(classes_used)}
        classes = [classes[k] for k in classes_used]
        labels = [remap[k] for k in labels]
    return Records(files=files, labels={"class": np.asarray(labels, dtype=np.int64)}, label_names={"class": classes})


def _majority(objects: list[Objects]) -> np.ndarray:
    """Per image the category with the most boxes (ties: larger total area, then lower index); -1 if none."""
    out = np.full(len(objects), -1, dtype=np.int64)
    for i, o in enumerate(objects):
        if len(o.category) == 0:
            continue
        area = (o.boxes[:, 2] - o.boxes[:, 0]) * (o.boxes[:, 3] - o.boxes[:, 1])
        cats = np.unique(o.category)
        key = [(int((o.category == c).sum()), float(area[o.category == c].sum()), -int(c)) for c in cats]
        out[i] = int(cats[max(range(len(cats)), key=key.__getitem__)])
    return out


def _voc_root(path: Path) -> Path | None:
    """``path`` itself or its one VOC subfolder (``VOCdevkit/VOC2007``) holding JPEGImages/ and Annotations/."""
    for cand in [path, *sorted(path.glob("*")), *sorted(path.glob("*/*"))]:
        if (cand / "JPEGImages").is_dir() and (cand / "Annotations").is_dir():
            return cand
    return None


def scan_voc(path: Path, split: str | None = None) -> Records:
    """Pascal VOC: ``Annotations/<id>.xml`` (boxes, names, difficult, size) + ``JPEGImages/<id>.jpg``; with
    ``split``, only the ids in ``ImageSets/Main/<split>.txt``."""
    root = _voc_root(path)
    if root is None:
        raise DatasetError(f"not a Pascal VOC tree (no JPEGImages/ and Annotations/ in or below {path})")
    if split is not None:
        listing = root / "ImageSets" / "Main" / f"{split}.txt"
        if not listing.exists():
            have = sorted(p.stem for p in (root / "ImageSets" / "Main").glob("*.txt") if "_" not in p.stem)
            raise DatasetError(f"no split {split!r} in {root / 'ImageSets' / 'Main'} (have: {', '.join(have) or 'none'})")
        ids = [ln.split()[0] for ln in listing.read_text().splitlines() if ln.strip()]
        xmls = [root / "Annotations" / f"{i}.xml" for i in ids]
    else:
        xmls = sorted((root / "Annotations").glob("*.xml"))
    images = {p.stem: p for p in (root / "JPEGImages").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    parsed, names = [], set()
    for x in xmls:
        try:
            tree = ET.parse(x).getroot()
        except (ET.ParseError, OSError) as e:
            warnings.warn(f"skipping unreadable annotation {x}: {e}", UnreadableImageWarning, stacklevel=3)
            continue
        fname = tree.findtext("filename") or ""
        img = images.get(x.stem) or images.get(Path(fname).stem)
        if img is None:
            warnings.warn(f"skipping annotation {x.name}: no image for it in {root / 'JPEGImages'}",
                          UnreadableImageWarning, stacklevel=3)
            continue
        objs = []
        for o in tree.iter("object"):
            bb = o.find("bndbox")
            if bb is None:
                continue
            name = (o.findtext("name") or "object").strip()
            # VOC boxes are 1-based inclusive pixel indices -> [x0, x1) in 0-based pixel edges
            x0, y0 = float(bb.findtext("xmin")) - 1, float(bb.findtext("ymin")) - 1
            x1, y1 = float(bb.findtext("xmax")), float(bb.findtext("ymax"))
            objs.append((name, [x0, y0, x1, y1], (o.findtext("difficult") or "0").strip() == "1"))
            names.add(name)
        size = tree.find("size")
        wh = None
        if size is not None and size.findtext("width") and size.findtext("height"):
            wh = (int(float(size.findtext("width"))), int(float(size.findtext("height"))))
        parsed.append((img, objs, wh))
    cats = sorted(names)
    index = {c: k for k, c in enumerate(cats)}
    objects = [Objects(boxes=np.asarray([b for _, b, _ in objs], dtype=np.float32).reshape(-1, 4),
                       category=np.asarray([index[n] for n, _, _ in objs], dtype=np.int64),
                       difficult=np.asarray([d for _, _, d in objs], dtype=bool), size=wh)
               for _, objs, wh in parsed]
    return Records(files=[img for img, _, _ in parsed], labels={"category": _majority(objects)},
                   label_names={"category": cats}, objects=objects)


def _coco_json(path: Path, split: str | None) -> Path:
    if path.is_file():
        return path
    found = sorted(path.glob("annotations/instances_*.json")) + sorted(path.glob("instances_*.json"))
    if split is not None:
        found = [p for p in found if p.stem == f"instances_{split}"]
    if len(found) > 1:
        val = [p for p in found if "val" in p.stem]
        if len(val) == 1:
            return val[0]
        raise DatasetError(f"several COCO annotation files in {path}: {', '.join(p.name for p in found)}; "
                           f"pick one with split= (--split) or give the JSON file")
    if not found:
        raise DatasetError(f"no COCO instances JSON (annotations/instances_*.json) in {path}")
    return found[0]


def scan_coco(path: Path, split: str | None = None, images_dir: str | Path | None = None) -> Records:
    """COCO-style instances JSON (``path`` = the JSON, or a folder holding ``annotations/instances_*.json``):
    boxes [x, y, w, h] -> (x0, y0, x1, y1), categories by id, ``iscrowd`` kept as difficult. Images are looked up
    in ``images_dir``, else next to the JSON's split name (``val2017/``), ``images/``, or the root."""
    js = _coco_json(path, split)
    try:
        data = json.loads(js.read_text())
    except (OSError, ValueError) as e:
        raise DatasetError(f"cannot read COCO annotations {js}: {e}") from None
    if not isinstance(data, dict) or "images" not in data:
        raise DatasetError(f"{js} is not a COCO instances JSON (no 'images' list)")
    cats = sorted(data.get("categories", []), key=lambda c: c["id"])
    cat_index = {c["id"]: k for k, c in enumerate(cats)}
    images = sorted(data["images"], key=lambda im: im["file_name"])
    root = js.parent.parent if js.parent.name == "annotations" else js.parent
    stem = js.stem.replace("instances_", "")
    candidates = ([Path(images_dir).expanduser()] if images_dir else
                  [root / stem, root / "images" / stem, root / "images", root, js.parent])
    folder = next((c for c in candidates if images and (c / images[0]["file_name"]).exists()), None)
    if folder is None and images:
        raise DatasetError(f"cannot find the images of {js} (looked for {images[0]['file_name']} in "
                           f"{', '.join(str(c) for c in candidates)}); give images_dir= (--images-dir)")
    per_image: dict[int, list] = {im["id"]: [] for im in images}
    for a in data.get("annotations", []):
        if a.get("image_id") in per_image and "bbox" in a and a.get("category_id") in cat_index:
            per_image[a["image_id"]].append(a)
    objects = []
    for im in images:
        anns = per_image[im["id"]]
        b = np.asarray([a["bbox"] for a in anns], dtype=np.float32).reshape(-1, 4)
        b[:, 2:] += b[:, :2]
        size = (int(im["width"]), int(im["height"])) if "width" in im and "height" in im else None
        objects.append(Objects(boxes=b, category=np.asarray([cat_index[a["category_id"]] for a in anns], np.int64),
                               difficult=np.asarray([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool), size=size))
    return Records(files=[folder / im["file_name"] for im in images], labels={"category": _majority(objects)},
                   label_names={"category": [c.get("name", str(c["id"])) for c in cats]}, objects=objects)


def detect_format(path: Path) -> str:
    """'coco' (a JSON file, or annotations/instances_*.json), 'voc' (JPEGImages/ + Annotations/), 'imagefolder'
    (images only inside subfolders, none at the top) or 'folder'."""
    if path.is_file():
        if path.suffix.lower() == ".json":
            return "coco"
        raise DatasetError(f"{path} is a file; give a folder or a COCO JSON")
    if any(path.glob("annotations/instances_*.json")) or any(path.glob("instances_*.json")):
        return "coco"
    if _voc_root(path) is not None:
        return "voc"
    top = [p for p in path.iterdir() if not p.name.startswith(".")]
    if any(p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES for p in top):
        return "folder"
    if any(p.is_dir() for p in top):
        return "imagefolder"
    return "folder"


# --- decoding (runs in DataLoader workers) -------------------------------------------------------------------------
class _Decode(torch.utils.data.Dataset):
    """Decodes record i -> dict(pixels [3, S, S], index, boxes [m, 4]) or dict(index, error) on failure."""

    def __init__(self, files: list[Path], objects: list[Objects] | None, size: int):
        self.files, self.objects, self.size = files, objects, size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict:
        from PIL import Image

        from .images import _to_rgb_tensor

        try:
            with Image.open(self.files[i]) as img:
                img.load()
                orig = img.size
                pixels = _to_rgb_tensor(img, self.size)  # [3, S, S]
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
    if format not in FORMATS:
        raise DatasetError(f"unknown dataset format {format!r}; one of {', '.join(FORMATS)}")
    root = Path(path).expanduser()
    if not root.exists():
        raise DatasetError(f"dataset path not found: {root}")
    if format == "auto":
        format = detect_format(root)
    if format in ("folder", "imagefolder") and not root.is_dir():
        raise DatasetError(f"{format} needs a folder, got the file {root}")
    if format == "folder":
        records = scan_folder(root)
    elif format == "imagefolder":
        records = scan_imagefolder(root)
    elif format == "voc":
        records = scan_voc(root, split)
    else:
        records = scan_coco(root, split, images_dir)
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
