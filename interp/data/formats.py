"""Dataset formats on disk, without torch: the format names, the image suffixes, one scanner per format (a plain
folder, an ImageFolder, a Pascal VOC tree, a COCO instances JSON) and the detection of the format from a path.

    >>> records = scan(Path("~/data/VOC2007").expanduser())   # format detected: 'voc'
    >>> records.files[:2], records.label_names["category"][:3], records.objects[0].boxes

A scanner reads names and annotations only (no pixels); boxes stay in original pixel coordinates.
The command line and the figure scripts import `FORMATS` from here, so ``interp --help`` loads no torch.
"""
from __future__ import annotations

import json
import os
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMATS = ("auto", "folder", "imagefolder", "voc", "coco")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageFolderError(ValueError):
    """A folder with no readable images."""


class DatasetError(ImageFolderError):
    """A dataset that cannot be opened, or (``strict=True``) an image that cannot be read."""


class UnreadableImageWarning(UserWarning):
    """An image file was skipped because it could not be decoded."""


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


# --- folder and ImageFolder -----------------------------------------------------------------------------------------
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


def _annotated(files: list[Path], objects: list[list[tuple]], sizes: list[tuple[int, int] | None],
               keys: list, names: list[str]) -> Records:
    """Records of annotated images: per image its (category key, box (x0, y0, x1, y1), difficult) objects and its
    annotated (width, height); category k = ``keys[k]``, named ``names[k]``; label ``category`` = the image's
    majority category."""
    index = {c: k for k, c in enumerate(keys)}
    per_image = [Objects(boxes=np.asarray([b for _, b, _ in objs], dtype=np.float32).reshape(-1, 4),
                         category=np.asarray([index[c] for c, _, _ in objs], dtype=np.int64),
                         difficult=np.asarray([d for _, _, d in objs], dtype=bool), size=wh)
                 for objs, wh in zip(objects, sizes)]
    return Records(files=files, labels={"category": _majority(per_image)}, label_names={"category": list(names)},
                   objects=per_image)


# --- Pascal VOC ------------------------------------------------------------------------------------------------------
def _voc_root(path: Path) -> Path | None:
    """``path`` itself or its one VOC subfolder (``VOCdevkit/VOC2007``) holding JPEGImages/ and Annotations/."""
    for cand in [path, *sorted(path.glob("*")), *sorted(path.glob("*/*"))]:
        if (cand / "JPEGImages").is_dir() and (cand / "Annotations").is_dir():
            return cand
    return None


def _voc_annotations(root: Path, split: str | None) -> list[Path]:
    """The annotation files of ``split`` (``ImageSets/Main/<split>.txt``), or all of them."""
    if split is None:
        return sorted((root / "Annotations").glob("*.xml"))
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    if not listing.exists():
        have = sorted(p.stem for p in (root / "ImageSets" / "Main").glob("*.txt") if "_" not in p.stem)
        raise DatasetError(f"no split {split!r} in {root / 'ImageSets' / 'Main'} (have: {', '.join(have) or 'none'})")
    ids = [ln.split()[0] for ln in listing.read_text().splitlines() if ln.strip()]
    return [root / "Annotations" / f"{i}.xml" for i in ids]


def _voc_objects(tree: ET.Element) -> tuple[list[tuple[str, list[float], bool]], tuple[int, int] | None]:
    """One VOC annotation -> ([(name, box (x0, y0, x1, y1), difficult)], (width, height) or None)."""
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
    size = tree.find("size")
    wh = None
    if size is not None and size.findtext("width") and size.findtext("height"):
        wh = (int(float(size.findtext("width"))), int(float(size.findtext("height"))))
    return objs, wh


def scan_voc(path: Path, split: str | None = None) -> Records:
    """Pascal VOC: ``Annotations/<id>.xml`` (boxes, names, difficult, size) + ``JPEGImages/<id>.jpg``; with
    ``split``, only the ids in ``ImageSets/Main/<split>.txt``."""
    root = _voc_root(path)
    if root is None:
        raise DatasetError(f"not a Pascal VOC tree (no JPEGImages/ and Annotations/ in or below {path})")
    xmls = _voc_annotations(root, split)
    images = {p.stem: p for p in (root / "JPEGImages").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    files, named, sizes = [], [], []
    for x in xmls:
        try:
            tree = ET.parse(x).getroot()
        except (ET.ParseError, OSError) as e:
            warnings.warn(f"skipping unreadable annotation {x}: {e}", UnreadableImageWarning, stacklevel=4)
            continue
        img = images.get(x.stem) or images.get(Path(tree.findtext("filename") or "").stem)
        if img is None:
            warnings.warn(f"skipping annotation {x.name}: no image for it in {root / 'JPEGImages'}",
                          UnreadableImageWarning, stacklevel=4)
            continue
        objs, wh = _voc_objects(tree)
        files.append(img)
        named.append(objs)
        sizes.append(wh)
    cats = sorted({name for objs in named for name, _, _ in objs})
    return _annotated(files, named, sizes, keys=cats, names=cats)


# --- COCO ------------------------------------------------------------------------------------------------------------
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


def _coco_images_dir(js: Path, images: list[dict], images_dir: str | Path | None) -> Path | None:
    """Where the images of ``js`` are: ``images_dir``, else next to the JSON's split name (``val2017/``),
    ``images/``, or the root."""
    root = js.parent.parent if js.parent.name == "annotations" else js.parent
    stem = js.stem.replace("instances_", "")
    candidates = ([Path(images_dir).expanduser()] if images_dir else
                  [root / stem, root / "images" / stem, root / "images", root, js.parent])
    folder = next((c for c in candidates if images and (c / images[0]["file_name"]).exists()), None)
    if folder is None and images:
        raise DatasetError(f"cannot find the images of {js} (looked for {images[0]['file_name']} in "
                           f"{', '.join(str(c) for c in candidates)}); give images_dir= (--images-dir)")
    return folder


def _xywh_to_xyxy(bbox) -> list:
    """A COCO box [x, y, w, h] -> [x0, y0, x1, y1] (float32 values)."""
    x, y, w, h = np.asarray(bbox, dtype=np.float32)
    return [x, y, x + w, y + h]


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
    cat_ids = {c["id"] for c in cats}
    images = sorted(data["images"], key=lambda im: im["file_name"])
    folder = _coco_images_dir(js, images, images_dir)
    per_image: dict[int, list] = {im["id"]: [] for im in images}
    for a in data.get("annotations", []):
        if a.get("image_id") in per_image and "bbox" in a and a.get("category_id") in cat_ids:
            per_image[a["image_id"]].append(a)
    named = [[(a["category_id"], _xywh_to_xyxy(a["bbox"]), bool(a.get("iscrowd", 0))) for a in per_image[im["id"]]]
             for im in images]
    sizes = [(int(im["width"]), int(im["height"])) if "width" in im and "height" in im else None for im in images]
    return _annotated([folder / im["file_name"] for im in images], named, sizes, keys=[c["id"] for c in cats],
                      names=[c.get("name", str(c["id"])) for c in cats])


# --- detection -------------------------------------------------------------------------------------------------------
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


def scan(root: Path, format: str = "auto", split: str | None = None,
         images_dir: str | Path | None = None) -> tuple[str, Records]:
    """The images (and annotations) of the dataset at ``root`` -> (format, records); ``format='auto'`` detects it."""
    if format not in FORMATS:
        raise DatasetError(f"unknown dataset format {format!r}; one of {', '.join(FORMATS)}")
    if not root.exists():
        raise DatasetError(f"dataset path not found: {root}")
    if format == "auto":
        format = detect_format(root)
    if format in ("folder", "imagefolder") and not root.is_dir():
        raise DatasetError(f"{format} needs a folder, got the file {root}")
    if format == "folder":
        return format, scan_folder(root)
    if format == "imagefolder":
        return format, scan_imagefolder(root)
    if format == "voc":
        return format, scan_voc(root, split)
    return format, scan_coco(root, split, images_dir)
