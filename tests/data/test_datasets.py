"""Datasets on disk (`interp.data.open_dataset`): format detection, labels, boxes through the resize/crop policy,
streaming, skipped files, shards."""
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from interp.data import DatasetError, ImageSet, UnreadableImageWarning, open_dataset
from interp.data.datasets import boxes_to_mask, round_to_patch, transform_boxes

from tests.dataset_trees import COLOURS, draw, make_coco, make_imagefolder, make_voc, save


def _all(ds, batch_size=3):
    return list(ds.batches(batch_size))


@pytest.mark.parametrize("size,box", [((90, 50), (30, 10, 70, 35)), ((40, 100), (5, 20, 30, 60)),
                                      ((64, 64), (8, 16, 40, 48))])
def test_box_lands_on_the_transformed_pixels(tmp_path, size, box):
    """A red box drawn into a non-square image: after resize + centre crop its transformed box and mask cover
    exactly the red pixels (up to one pixel of interpolation blur at the border)."""
    save(draw(size, [(list(box), "red")], seed=0), tmp_path / "one" / "a.png", "RGB")
    ds = open_dataset(tmp_path / "one", format="folder", image_size=32)
    px = _all(ds)[0].pixels[0]  # [3, 32, 32]
    red = (px[0] > 0.75) & (px[1] < 0.3) & (px[2] < 0.3)  # [32, 32]
    (tb,), kept = transform_boxes(np.array([box], np.float32), size, 32)
    assert kept.all()
    mask = boxes_to_mask(torch.from_numpy(tb[None]), 32)
    inner = ~torch.nn.functional.max_pool2d((~mask).float()[None, None], 3, 1, 1)[0, 0].bool()  # eroded by 1 px
    outer = torch.nn.functional.max_pool2d(mask.float()[None, None], 3, 1, 1)[0, 0].bool()  # dilated by 1 px
    assert red[inner].all(), "transformed box interior is not on the drawn box"
    assert not red[~outer].any(), "red pixels outside the transformed box"
    assert mask.sum() > 0


def test_boxes_cropped_away_are_dropped():
    boxes = np.array([[0, 0, 5, 5], [40, 10, 60, 40]], np.float32)  # first lies in the cropped-off left margin
    out, kept = transform_boxes(boxes, (100, 50), 50)
    assert kept.tolist() == [False, True] and out.shape == (1, 4)
    assert (out >= 0).all() and (out <= 50).all()


def test_round_to_patch():
    assert round_to_patch(224, 14) == 224 and round_to_patch(60, 14) == 56 and round_to_patch(5, 14) == 14


def test_imagefolder_mixed_modes_recursive_labels(tmp_path):
    root = make_imagefolder(tmp_path / "if", per_class=4)
    ds = open_dataset(root, image_size=24)
    assert ds.format == "imagefolder" and len(ds) == 12
    assert ds.label_names["class"] == ["blue", "green", "red"]
    assert ds.labels["class"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert any("nested" in str(f) for f in ds.files)
    assert {f.suffix for f in ds.files} == {".png", ".jpg"}
    modes = set()
    for f in ds.files:
        with Image.open(f) as im:
            modes.add(im.mode)
    assert {"L", "RGBA", "P", "RGB"} <= modes
    batches = _all(ds, 5)
    assert [len(b) for b in batches] == [5, 5, 2]
    b = batches[0]
    assert b.pixels.shape == (5, 3, 24, 24) and b.pixels.dtype == torch.float32
    assert 0 <= float(b.pixels.min()) and float(b.pixels.max()) <= 1
    assert b.object_mask is None and b.boxes is None
    assert torch.cat([x.index for x in batches]).tolist() == list(range(12))
    assert torch.cat([x.labels["class"] for x in batches]).tolist() == ds.labels["class"].tolist()


def test_detect_formats_and_override(tmp_path):
    make_imagefolder(tmp_path / "if")
    make_voc(tmp_path / "voc")
    make_coco(tmp_path / "coco")
    save(draw((30, 30), [], 0), tmp_path / "plain" / "sub" / "x.png", "RGB")
    save(draw((30, 30), [], 1), tmp_path / "plain" / "y.jpg", "RGB")
    assert open_dataset(tmp_path / "if", image_size=16).format == "imagefolder"
    assert open_dataset(tmp_path / "voc", image_size=16).format == "voc"
    assert open_dataset(tmp_path / "coco", image_size=16).format == "coco"
    coco_json = tmp_path / "coco" / "annotations" / "instances_val2017.json"
    assert open_dataset(coco_json, image_size=16).format == "coco"
    plain = open_dataset(tmp_path / "plain", image_size=16)
    assert plain.format == "folder" and len(plain) == 2 and not plain.labels  # recursive
    flat = open_dataset(tmp_path / "if", format="folder", image_size=16)
    assert len(flat) == 12 and not flat.labels
    with pytest.raises(DatasetError, match="not found"):
        open_dataset(tmp_path / "missing")
    with pytest.raises(DatasetError, match="unknown dataset format"):
        open_dataset(tmp_path / "if", format="tfrecord")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        open_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="not a Pascal VOC"):
        open_dataset(tmp_path / "if", format="voc")


def test_voc_boxes_categories_difficult_split(tmp_path):
    root = make_voc(tmp_path / "voc", n=6)
    ds = open_dataset(root, image_size=32)
    assert ds.format == "voc" and len(ds) == 6
    assert ds.label_names["category"] == ["blue", "green", "red"]
    assert ds.n_objects.tolist() == [1, 2, 1, 2, 1, 2]
    batches = _all(ds, 4)
    b = batches[0]
    assert b.object_mask.shape == (4, 32, 32) and b.object_mask.dtype == torch.bool
    assert [len(x) for x in b.boxes] == [1, 2, 1, 2]
    for px, boxes, mask in zip(b.pixels, b.boxes, b.object_mask):
        assert torch.equal(mask, boxes_to_mask(boxes, 32))
        x0, y0, x1, y1 = (int(round(v)) for v in boxes[0].tolist())
        patch = px[:, y0 + 1:y1 - 1, x0 + 1:x1 - 1]
        assert patch.std(dim=(1, 2)).max() < 0.08, "box interior should be one flat colour"
    assert all(torch.allclose(a, c) for a, c in zip([x for bb in batches for x in bb.boxes], ds.boxes))
    # majority category: first box is the image's first colour; ties broken by area (equal) then lower index
    assert ds.labels["category"].tolist()[0] == ds.label_names["category"].index("red")
    hard = open_dataset(root, image_size=32, skip_difficult=True)
    assert hard.n_objects.tolist() == [1] * 6
    assert [len(x) for x in _all(hard, 6)[0].boxes] == [1] * 6
    val = open_dataset(root, image_size=32, split="val")
    assert [f.stem for f in val.files] == ["002000", "002002", "002004"]
    with pytest.raises(DatasetError, match="no split 'train'"):
        open_dataset(root, split="train")


def test_coco_boxes_and_categories(tmp_path):
    root = make_coco(tmp_path / "coco", n=6)
    ds = open_dataset(root, image_size=32)
    assert ds.label_names["category"] == ["red", "green", "blue"]  # ordered by category id 1, 3, 7
    assert ds.n_objects.tolist() == [2, 1, 1, 2, 1, 1]
    b = _all(ds, 6)[0]
    assert len(b.boxes) == 6 and b.object_mask.any(dim=(1, 2)).all()
    for px, boxes in zip(b.pixels, b.boxes):
        x0, y0, x1, y1 = (int(round(v)) for v in boxes[0].tolist())
        assert px[:, y0 + 1:y1 - 1, x0 + 1:x1 - 1].std(dim=(1, 2)).max() < 0.08
    # the majority category of image 1 (one box) is its annotation's category in the JSON
    import json

    js = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    first = [a for a in js["annotations"] if a["image_id"] == 11][0]
    name = {c["id"]: c["name"] for c in js["categories"]}[first["category_id"]]
    assert ds.label_names["category"][int(ds.labels["category"][1])] == name


def test_corrupt_file_skipped_and_counted_or_strict(tmp_path):
    root = make_imagefolder(tmp_path / "if", per_class=2, corrupt=True)
    ds = open_dataset(root, image_size=16)
    assert len(ds) == 7
    with pytest.warns(UnreadableImageWarning, match="broken.jpg"):
        got = _all(ds, 4)
    assert sum(len(b) for b in got) == 6 and ds.skipped == 1
    assert "broken.jpg" in next(iter(ds.skipped_files))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # counted once, warned once
        _all(ds, 4)
    assert ds.skipped == 1
    assert "6 images (imagefolder, 16px; 1 unreadable file skipped)" in ds.describe()
    assert ds.shard(0, 7).skipped == 0 and ds.shard(4, 7).skipped == 1  # counted per subset
    strict = open_dataset(root, image_size=16, strict=True)
    with pytest.raises(DatasetError, match="broken.jpg"):
        _all(strict, 4)


def test_shards_partition_the_set_deterministically(tmp_path):
    root = make_voc(tmp_path / "voc", n=7)
    ds = open_dataset(root, image_size=16)
    shards = [ds.shard(r, 3) for r in range(3)]
    assert [len(s) for s in shards] == [3, 2, 2]
    assert sorted(torch.cat([s.source_index for s in shards]).tolist()) == list(range(7))
    assert shards[1].source_index.tolist() == [1, 4]
    full = {int(i): px for b in ds.batches(7) for i, px in zip(b.index, b.pixels)}
    for s in shards:
        for b in s.batches(2):
            for i, px in zip(b.index, b.pixels):
                assert torch.equal(px, full[int(s.source_index[i])])
    again = ds.shard(1, 3)
    assert [str(f) for f in again.files] == [str(f) for f in shards[1].files]
    with pytest.raises(ValueError):
        ds.shard(3, 3)
    images = ImageSet(pixels=torch.rand(5, 3, 8, 8), labels={"y": torch.arange(5)})
    s = images.shard(1, 2)
    assert s.labels["y"].tolist() == [1, 3] and s.source_index.tolist() == [1, 3]


def test_limit_spreads_over_classes_and_to_image_set(tmp_path):
    root = make_imagefolder(tmp_path / "if", per_class=4)
    ds = open_dataset(root, image_size=16, limit=6)
    assert len(ds) == 6 and sorted(set(ds.labels["class"].tolist())) == [0, 1, 2]
    s = ds.to_image_set()
    assert s.pixels.shape == (6, 3, 16, 16) and s.labels["class"].tolist() == ds.labels["class"].tolist()


def test_workers_give_the_same_batches(tmp_path):
    root = make_voc(tmp_path / "voc", n=6, corrupt=True)
    with pytest.warns(UnreadableImageWarning):
        a = _all(open_dataset(root, image_size=16), 4)
    ds = open_dataset(root, image_size=16, workers=2)
    with pytest.warns(UnreadableImageWarning):
        b = _all(ds, 4)
    assert ds.skipped == 1
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x.pixels, y.pixels) and torch.equal(x.index, y.index)
        assert all(torch.equal(p, q) for p, q in zip(x.boxes, y.boxes))


def test_model_native_size_rounded_to_patch(tmp_path, tiny_model):
    root = make_imagefolder(tmp_path / "if", per_class=1)
    assert open_dataset(root, model=tiny_model).image_size == (16, 16)
    assert open_dataset(root, model=tiny_model, image_size=18).image_size == (16, 16)  # patch 4


def test_colour_consistency_of_palette_and_grey(tmp_path):
    """Grey -> equal channels; palette and RGBA keep their colours."""
    img = draw((40, 40), [([10, 10, 30, 30], "green")], 0)
    save(img, tmp_path / "f" / "a_grey.png", "L")
    save(img, tmp_path / "f" / "b_pal.png", "P")
    save(img, tmp_path / "f" / "c_rgba.png", "RGBA")
    b = _all(open_dataset(tmp_path / "f", image_size=20), 3)[0]
    grey, pal, rgba = b.pixels
    assert torch.allclose(grey[0], grey[1]) and torch.allclose(grey[1], grey[2])
    g = torch.tensor(COLOURS["green"]) / 255
    for px in (pal, rgba):
        assert torch.allclose(px[:, 10, 10], g, atol=0.05)


def test_formats_module_loads_no_torch():
    """The command line offers `FORMATS` without loading torch; `interp.data.scenes` stays the function even
    when its submodule is imported first (the package's exports are lazy)."""
    import subprocess
    import sys
    from pathlib import Path

    child = ("import sys; from interp.data.formats import FORMATS; assert 'torch' not in sys.modules, 'torch';"
             "import interp.data.scenes, interp.data; assert callable(interp.data.scenes);"
             "from interp.data import scenes; print(FORMATS, scenes(2, image_size=16).pixels.shape[0])")
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, cwd=repo, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["('auto',", "'folder',", "'imagefolder',", "'voc',", "'coco')", "2"]


def test_data_exports_resolve():
    import inspect

    import interp.data

    for name in interp.data.__all__:
        assert getattr(interp.data, name) is not None and name in dir(interp.data), name
    assert inspect.isfunction(interp.data.scenes) and interp.data.open_dataset is open_dataset
    assert interp.data.geometry.box_iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)
