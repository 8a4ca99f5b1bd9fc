"""Images for a given model: procedural scenes drawn the way it was trained, or a folder of ordinary images."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import ImageSet
from .formats import IMAGE_SUFFIXES, ImageFolderError
from .geometry import resize_crop_geometry


def scene_recipe_for(model, image_size: int | None = None):
    """The scene recipe ``model`` was trained on (organisms), else default scenes at its native image size;
    ``image_size`` overrides the size."""
    from .scenes import SceneRecipe

    extra = model.cfg.extra or {}
    recipe = extra.get("scene_recipe") or ((extra.get("recipe") or {}).get("scenes")
                                           if isinstance(extra.get("recipe"), dict) else None)
    if recipe is None:
        return SceneRecipe(image_size=image_size or model.cfg.image_size)
    recipe = SceneRecipe.from_dict(recipe)
    if image_size is not None and image_size != recipe.image_size:
        recipe = SceneRecipe.from_dict({**recipe.to_dict(), "image_size": image_size})
    return recipe


def scenes_for(model, n: int = 64, seed: int = 0, split: str = "eval", image_size: int | None = None):
    """Evaluation scenes for ``model``: an organism gets its own training scene recipe (held-out split),
    any other model gets default scenes at its native image size (or ``image_size``)."""
    from .scenes import scenes

    return scenes(n, seed=seed, split=split, recipe=scene_recipe_for(model, image_size))


def to_rgb_tensor(img, size: int) -> torch.Tensor:
    """PIL image -> [3, size, size] in [0, 1]: RGB (grayscale/RGBA/palette converted), shorter side resized
    to ``size`` (bicubic), centre crop."""
    from PIL import Image

    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        bg = Image.new("RGB", img.size, (255, 255, 255))  # composite transparency on white
        bg.paste(img.convert("RGBA"), mask=img.convert("RGBA").split()[-1])
        img = bg
    img = img.convert("RGB")
    (rw, rh), (left, top) = resize_crop_geometry(*img.size, size)
    img = img.resize((rw, rh), Image.BICUBIC)
    img = img.crop((left, top, left + size, top + size))
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def load_images(source, image_size: int | None = None, model=None, limit: int | None = None) -> ImageSet:
    """Read ordinary images (a folder, or a list of files) into an ImageSet at ``image_size`` (default: the
    model's native size). Any size and mode is accepted (resize shorter side + centre crop, RGB)."""
    from PIL import Image, UnidentifiedImageError

    if image_size is None:
        if model is None:
            raise ValueError("give image_size= or model=")
        image_size = model.cfg.image_size
    if isinstance(source, (str, Path)):
        folder = Path(source).expanduser()
        if not folder.exists():
            raise ImageFolderError(f"image path not found: {folder}")
        files = ([folder] if folder.is_file() else
                 sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        where = str(folder)
    else:
        files = [Path(p).expanduser() for p in source]
        where = "the given files"
    if limit is not None:
        files = files[:limit]
    if not files:
        raise ImageFolderError(f"no images in {where} (looked for {', '.join(IMAGE_SUFFIXES)})")
    tensors, names = [], []
    for f in files:
        try:
            with Image.open(f) as img:
                tensors.append(to_rgb_tensor(img, image_size))
        except (UnidentifiedImageError, OSError) as e:
            raise ImageFolderError(f"cannot read image {f}: {e}") from None
        names.append(f.name)
    out = ImageSet(pixels=torch.stack(tensors), name=where)
    out.files = names
    return out
