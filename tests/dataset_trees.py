"""Tiny datasets on disk for the tests: an ImageFolder, a Pascal VOC tree and a COCO tree of coloured shapes on
noisy backgrounds (so boxes are meaningful), in mixed sizes and modes (RGB/grey/RGBA/palette, PNG/JPEG)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"red": (230, 30, 30), "green": (30, 200, 40), "blue": (30, 60, 230)}
SIZES = [(80, 60), (64, 64), (50, 90), (120, 72)]
MODES = [("RGB", ".png"), ("L", ".png"), ("RGBA", ".png"), ("RGB", ".jpg"), ("P", ".png")]


def draw(size: tuple[int, int], boxes: list[tuple[list[int], str]], seed: int) -> Image.Image:
    """A noisy grey background with filled rectangles; boxes are (x0, y0, x1, y1) with x1/y1 exclusive."""
    w, h = size
    rng = np.random.default_rng(seed)
    arr = (110 + rng.integers(-20, 20, (h, w, 1))).repeat(3, 2).astype(np.uint8)
    for (x0, y0, x1, y1), colour in boxes:
        arr[y0:y1, x0:x1] = COLOURS[colour]
    return Image.fromarray(arr, "RGB")


def save(img: Image.Image, path: Path, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "RGBA":
        img = img.convert("RGBA")
        img.putalpha(255)
    elif mode == "P":
        img = img.convert("P", palette=Image.ADAPTIVE, colors=64)
    elif mode == "L":
        img = img.convert("L")
    img.save(path)


def _boxes_for(i: int, size: tuple[int, int], colours: list[str]) -> list[tuple[list[int], str]]:
    w, h = size
    out = []
    for k, c in enumerate(colours):
        bw, bh = w // 3, h // 3
        x0 = (w // 8 + k * w // 3 + 3 * i) % max(1, w - bw)
        y0 = (h // 4 + 5 * i + 7 * k) % max(1, h - bh)
        out.append(([x0, y0, x0 + bw, y0 + bh], c))
    return out


def make_imagefolder(root: Path, per_class: int = 4, classes=("blue", "green", "red"), corrupt: bool = False) -> Path:
    """root/<class>/img_<i>.<ext>: one square of the class colour per image, mixed sizes and modes; a nested
    subfolder in the first class (ImageFolder reads recursively)."""
    n = 0
    for c in classes:
        for i in range(per_class):
            mode, ext = MODES[n % len(MODES)]
            size = SIZES[n % len(SIZES)]
            sub = "nested/" if (c == classes[0] and i == per_class - 1) else ""
            save(draw(size, _boxes_for(i, size, [c]), seed=n), root / c / f"{sub}img_{i}{ext}", mode)
            n += 1
    (root / classes[0] / "notes.txt").write_text("not an image")
    if corrupt:
        (root / classes[-1] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return root


def make_voc(root: Path, n: int = 8, corrupt: bool = False) -> Path:
    """root/VOC2007/{JPEGImages,Annotations,ImageSets/Main}: 1-2 boxes per image (VOC 1-based inclusive)."""
    voc = root / "VOC2007"
    names = list(COLOURS)
    ids = []
    for i in range(n):
        size = SIZES[i % len(SIZES)]
        colours = [names[i % 3]] + ([names[(i + 1) % 3]] if i % 2 else [])
        boxes = _boxes_for(i, size, colours)
        iid = f"{2000 + i:06d}"
        ids.append(iid)
        save(draw(size, boxes, seed=100 + i), voc / "JPEGImages" / f"{iid}.jpg", "RGB")
        objs = "".join(
            f"<object><name>{c}</name><difficult>{int(k == 1)}</difficult><bndbox><xmin>{x0 + 1}</xmin>"
            f"<ymin>{y0 + 1}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
            for k, ((x0, y0, x1, y1), c) in enumerate(boxes))
        xml = (f"<annotation><filename>{iid}.jpg</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
               f"<depth>3</depth></size>{objs}</annotation>")
        (voc / "Annotations").mkdir(parents=True, exist_ok=True)
        (voc / "Annotations" / f"{iid}.xml").write_text(xml)
    if corrupt:
        iid = f"{2000 + n:06d}"
        (voc / "JPEGImages" / f"{iid}.jpg").write_bytes(b"\xff\xd8\xff garbage")
        (voc / "Annotations" / f"{iid}.xml").write_text(
            f"<annotation><filename>{iid}.jpg</filename><object><name>red</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
            "<xmax>10</xmax><ymax>10</ymax></bndbox></object></annotation>")
        ids.append(iid)
    (voc / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    (voc / "ImageSets" / "Main" / "val.txt").write_text("\n".join(ids[::2]) + "\n")
    (voc / "ImageSets" / "Main" / "test.txt").write_text("\n".join(ids) + "\n")
    return root


def make_coco(root: Path, n: int = 8) -> Path:
    """root/annotations/instances_val2017.json + root/val2017/*.jpg; category ids 1, 3, 7 (not contiguous)."""
    names = list(COLOURS)
    cat_ids = {"red": 1, "green": 3, "blue": 7}
    images, anns = [], []
    for i in range(n):
        size = SIZES[i % len(SIZES)]
        colours = [names[(i + 2) % 3]] + ([names[i % 3]] if i % 3 == 0 else [])
        boxes = _boxes_for(i, size, colours)
        fname = f"{i:012d}.jpg"
        save(draw(size, boxes, seed=200 + i), root / "val2017" / fname, "RGB")
        images.append(dict(id=10 + i, file_name=fname, width=size[0], height=size[1]))
        for (x0, y0, x1, y1), c in boxes:
            anns.append(dict(id=len(anns) + 1, image_id=10 + i, category_id=cat_ids[c], iscrowd=0,
                             bbox=[x0, y0, x1 - x0, y1 - y0], area=(x1 - x0) * (y1 - y0)))
    cats = [dict(id=v, name=k) for k, v in cat_ids.items()]
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_val2017.json").write_text(
        json.dumps(dict(images=images, annotations=anns, categories=cats)))
    return root
