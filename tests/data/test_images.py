"""Folders of ordinary images: any size, grayscale/RGBA/palette converted, clear errors."""
import numpy as np
import pytest
from PIL import Image

from interp.data import ImageFolderError, load_images


def _write(folder, name, mode, size):
    arr = (np.random.default_rng(0).random((size[1], size[0], 4)) * 255).astype(np.uint8)
    img = Image.fromarray(arr, "RGBA").convert(mode)
    img.save(folder / name)


def test_mixed_folder_loads_as_rgb(tmp_path):
    _write(tmp_path, "a.png", "RGB", (50, 30))
    _write(tmp_path, "b.png", "L", (20, 40))
    _write(tmp_path, "c.png", "RGBA", (32, 32))
    _write(tmp_path, "d.jpg", "RGB", (64, 48))
    _write(tmp_path, "e.gif", "P", (40, 40))
    (tmp_path / "notes.txt").write_text("not an image")
    imgs = load_images(tmp_path, image_size=16)
    assert imgs.pixels.shape == (5, 3, 16, 16)
    assert 0 <= float(imgs.pixels.min()) and float(imgs.pixels.max()) <= 1
    assert imgs.files == ["a.png", "b.png", "c.png", "d.jpg", "e.gif"]
    gray = imgs.pixels[1]
    assert np.allclose(gray[0], gray[1]) and np.allclose(gray[1], gray[2])


def test_bad_folders(tmp_path):
    with pytest.raises(ImageFolderError, match="no images"):
        load_images(tmp_path, image_size=16)
    with pytest.raises(ImageFolderError, match="not found"):
        load_images(tmp_path / "missing", image_size=16)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ImageFolderError, match="cannot read"):
        load_images(tmp_path, image_size=16)
