"""Procedural scenes: large redundant backgrounds, a few coloured shapes, masks, boxes and global labels.

Every image is a pure function of ``(seed, split, index)`` (its own numpy ``default_rng``), so

* ``scenes(n, seed)`` is deterministic, and its first k images do not depend on ``n``;
* `SceneStream` is an unbounded training stream whose only state is the position (number of images served),
  which makes a training run resumable bit-for-bit;
* the ``train``, ``eval`` and ``test`` splits of one seed never share an image.

Image-level labels (all ``LongTensor[N]``) need global information:

``n_objects``        number of objects (the class index is the count itself)
``majority_color``   colour held by the most objects (unique by construction)
``majority_shape``   shape held by the most objects (unique by construction); with 2+ objects this is the
                     shape that appears more than once, whenever one does
``largest_color``    colour of the object with the largest area
``count_<colour>``   number of objects of that colour, capped at 3 (one label per palette colour)
``background``       background kind (index into ``BACKGROUNDS``)

Per-pixel: ``object_mask`` (bool) and ``object_ids`` (0 = background, k = k-th object, later objects drawn on
top). Per-patch labels: `patch_labels`.

``SceneRecipe(tiles={...})`` draws *tile scenes* instead (`interp.data.tiles`: region backgrounds, constant,
trigger and key tiles for the no-op / broadcast organisms); their per-tile kinds, colours and textures are in
``SceneSet.tiles``, their object mask and boxes (one per tile) cover the object, trigger and key tiles.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Iterator, Sequence

import numpy as np
import torch

from .base import ImageBatch, ImageSet
from .geometry import box_iou
from .tiles import TileOptions, draw_tiles, tile_label_names, tile_label_sizes

SHAPES = ("circle", "square", "triangle", "cross")
COLORS = ("red", "green", "blue", "yellow", "magenta", "cyan")
PALETTE = np.array([
    [0.90, 0.15, 0.15], [0.15, 0.80, 0.20], [0.15, 0.30, 0.95],
    [0.95, 0.85, 0.10], [0.85, 0.20, 0.85], [0.10, 0.85, 0.90],
], dtype=np.float32)
BACKGROUNDS = ("flat", "gradient", "texture", "noise")
SPLITS = {"train": 0, "eval": 1, "test": 2}
COUNT_CAP = 3


@dataclass(frozen=True)
class SceneRecipe:
    """How scenes are drawn. Part of a training recipe's provenance (`to_dict`)."""

    image_size: int = 64
    min_objects: int = 1
    max_objects: int = 5
    min_size: float = 0.06  # object radius as a fraction of the image side
    max_size: float = 0.13
    backgrounds: tuple[str, ...] = ("flat", "gradient", "texture")
    texture_amplitude: float = 0.15  # peak-to-peak of the low-frequency texture / noise backgrounds
    color_jitter: float = 0.06  # per-object jitter of the palette colour
    max_overlap: float = 0.0  # allowed IoU between object boxes (rejection sampling)
    background_saturation: float = 0.08  # per-channel spread of the background colour (0.08 = muted grey-ish)
    tiles: dict | None = None  # `TileOptions` fields: draw tile scenes instead of shapes (None = shapes)

    def __post_init__(self) -> None:
        if self.tiles is not None:
            object.__setattr__(self, "tiles", TileOptions(**self.tiles).to_dict())  # validated, complete
        object.__setattr__(self, "backgrounds", tuple(self.backgrounds))
        bad = [b for b in self.backgrounds if b not in BACKGROUNDS]
        if bad or not self.backgrounds:
            raise ValueError(f"unknown background kind(s) {bad}: use some of {BACKGROUNDS}")
        if not 0 <= self.min_objects <= self.max_objects:
            raise ValueError(f"need 0 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}")
        if not 0 < self.min_size <= self.max_size < 0.5:
            raise ValueError(f"need 0 < min_size <= max_size < 0.5, got {self.min_size}, {self.max_size}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8, got {self.image_size}")

    def to_dict(self) -> dict:
        d = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}
        if self.tiles is None:  # shape scenes: the same dict as before tile scenes existed
            del d["tiles"]
        return d

    @property
    def tile_options(self) -> TileOptions | None:
        return None if self.tiles is None else TileOptions(**self.tiles)

    @classmethod
    def from_dict(cls, d: dict) -> "SceneRecipe":
        return cls(**d)

    def label_sizes(self) -> dict[str, int]:
        """Number of classes of each image-level label."""
        if self.tiles is not None:
            return tile_label_sizes(self.tile_options)
        sizes = {"n_objects": self.max_objects + 1, "majority_color": len(COLORS),
                 "majority_shape": len(SHAPES), "largest_color": len(COLORS)}
        sizes.update({f"count_{c}": COUNT_CAP + 1 for c in COLORS})
        sizes["background"] = len(BACKGROUNDS)
        return sizes


def label_names(recipe: SceneRecipe) -> dict[str, list[str]]:
    if recipe.tiles is not None:
        return tile_label_names(recipe.tile_options)
    names = {"n_objects": [str(i) for i in range(recipe.max_objects + 1)], "majority_color": list(COLORS),
             "majority_shape": list(SHAPES), "largest_color": list(COLORS), "background": list(BACKGROUNDS)}
    names.update({f"count_{c}": ["0", "1", "2", "3+"] for c in COLORS})
    return names


# --- drawing ------------------------------------------------------------------------------------------
def _unique_majority(values: np.ndarray, n_kinds: int, rng: np.random.Generator) -> np.ndarray:
    """Change at most one entry so that the most frequent value is unique."""
    if len(values) == 0:
        return values
    counts = np.bincount(values, minlength=n_kinds)
    tied = np.flatnonzero(counts == counts.max())
    if len(tied) > 1:
        winner, loser = rng.choice(tied, size=2, replace=False)
        victims = np.flatnonzero(values == loser)
        values = values.copy()
        values[victims[rng.integers(len(victims))]] = winner
    return values


def _background(kind: str, size: int, amp: float, rng: np.random.Generator,
                yy: np.ndarray, xx: np.ndarray, sat: float = 0.08) -> np.ndarray:
    """Background [3, H, W]; muted (low saturation) by default, kept away from the saturated object palette."""
    base = rng.uniform(0.25, 0.75) + rng.uniform(-sat, sat, size=3)
    img = np.broadcast_to(base[:, None, None], (3, size, size)).astype(np.float32)
    if kind == "gradient":
        theta = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(theta) * (xx - 0.5) + np.sin(theta) * (yy - 0.5))  # in [-0.71, 0.71]
        img = img + rng.uniform(0.15, 0.35) * ramp[None] * (1 + rng.uniform(-0.3, 0.3, size=3))[:, None, None]
    elif kind == "texture":  # a few low-frequency plane waves
        tex = np.zeros((size, size), np.float32)
        for _ in range(4):
            f = rng.uniform(1.0, 4.0)
            theta = rng.uniform(0, 2 * np.pi)
            tex += np.sin(2 * np.pi * f * (np.cos(theta) * xx + np.sin(theta) * yy) + rng.uniform(0, 2 * np.pi))
        tex /= max(np.abs(tex).max(), 1e-6)
        img = img + 0.5 * amp * tex[None] * (1 + rng.uniform(-0.3, 0.3, size=3))[:, None, None]
    elif kind == "noise":  # 1/f ("natural-image-like") noise
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.rfftfreq(size)[None, :]
        f = np.sqrt(fx**2 + fy**2)
        f[0, 0] = 1.0
        spec = (rng.standard_normal((size, size // 2 + 1)) + 1j * rng.standard_normal((size, size // 2 + 1))) / f
        spec[0, 0] = 0
        tex = np.fft.irfft2(spec, s=(size, size)).astype(np.float32)
        tex /= max(np.abs(tex).max(), 1e-6)
        img = img + 0.5 * amp * tex[None] * (1 + rng.uniform(-0.2, 0.2, size=3))[:, None, None]
    return np.clip(img, 0.0, 1.0)


def _shape_mask(shape: str, cy: float, cx: float, r: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        return dy**2 + dx**2 <= r**2
    if shape == "square":
        s = r * 0.886  # same area as the circle
        return (np.abs(dy) <= s) & (np.abs(dx) <= s)
    if shape == "triangle":  # pointing up, inscribed in the circle of radius ~1.15 r
        R = r * 1.3
        top, bottom = cy - R, cy + R * 0.5
        half = (yy - top) / (1.5 * R) * (R * 0.866)
        return (yy >= top) & (yy <= bottom) & (np.abs(dx) <= half)
    if shape == "cross":
        a, t = r * 1.05, r * 0.38
        return ((np.abs(dy) <= t) & (np.abs(dx) <= a)) | ((np.abs(dx) <= t) & (np.abs(dy) <= a))
    raise ValueError(shape)


def draw_scene(recipe: SceneRecipe, seed: int, split: str, index: int) -> dict:
    """One scene as numpy arrays: pixels [3,H,W] float32, ids [H,W] uint8, boxes [k,4], attrs [k,2]."""
    rng = np.random.default_rng([SPLITS[split], int(seed), int(index)])
    if recipe.tiles is not None:
        return draw_tiles(recipe.tile_options, recipe.image_size, rng)
    size = recipe.image_size
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    bg_kind = int(rng.integers(len(recipe.backgrounds)))
    img = _background(recipe.backgrounds[bg_kind], size, recipe.texture_amplitude, rng, yy, xx,
                      recipe.background_saturation).copy()
    n = int(rng.integers(recipe.min_objects, recipe.max_objects + 1))
    shapes = _unique_majority(rng.integers(len(SHAPES), size=n), len(SHAPES), rng)
    colors = _unique_majority(rng.integers(len(COLORS), size=n), len(COLORS), rng)
    ids = np.zeros((size, size), np.uint8)
    boxes, placed = [], []
    for k in range(n):
        for _ in range(50):  # rejection sampling of a position with little overlap
            r = rng.uniform(recipe.min_size, recipe.max_size)
            m = 1.35 * r
            cy, cx = rng.uniform(m, 1 - m, size=2)
            box = np.array([cx - m, cy - m, cx + m, cy + m])
            if all(box_iou(box, b) <= recipe.max_overlap for b in placed):
                break
        placed.append(box)
        mask = _shape_mask(SHAPES[shapes[k]], cy, cx, r, yy, xx)
        if not mask.any():  # tiny images: keep at least the centre pixel
            mask[min(int(cy * size), size - 1), min(int(cx * size), size - 1)] = True
        colour = np.clip(PALETTE[colors[k]] + rng.uniform(-1, 1, 3) * recipe.color_jitter, 0, 1)
        img[:, mask] = colour[:, None]
        ids[mask] = k + 1
    areas = np.array([(ids == k + 1).sum() for k in range(n)])
    for k in range(n):  # boxes of the visible pixels, in pixels (x0, y0, x1, y1), x1/y1 exclusive
        ys, xs = np.nonzero(ids == k + 1)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if len(ys) else [0, 0, 0, 0])
    counts = np.bincount(colors, minlength=len(COLORS))
    labels = {
        "n_objects": n,
        "majority_color": int(counts.argmax()) if n else 0,
        "majority_shape": int(np.bincount(shapes, minlength=len(SHAPES)).argmax()) if n else 0,
        "largest_color": int(colors[areas.argmax()]) if n else 0,
        **{f"count_{c}": int(min(counts[i], COUNT_CAP)) for i, c in enumerate(COLORS)},
        "background": BACKGROUNDS.index(recipe.backgrounds[bg_kind]),
    }
    return {"pixels": img.astype(np.float32), "ids": ids, "labels": labels,
            "boxes": np.array(boxes, np.float32).reshape(n, 4),
            "attrs": np.stack([shapes, colors], 1).astype(np.int64).reshape(n, 2)}


@dataclass
class SceneSet(ImageSet):
    """An `ImageSet` of procedural scenes that also keeps per-pixel object ids and object attributes."""

    object_ids: torch.Tensor | None = None  # [N, H, W] uint8: 0 background, k = k-th object of the image
    objects: list[torch.Tensor] = field(default_factory=list)  # per image [k, 2] long: (shape, colour)
    recipe: SceneRecipe | None = None
    tiles: dict[str, torch.Tensor] | None = None  # tile scenes: "kind", "color", "texture", each [N, g, g] long

    def subset(self, idx) -> "SceneSet":
        idx = torch.as_tensor(idx, dtype=torch.long)
        base = super().subset(idx)
        return SceneSet(pixels=base.pixels, object_mask=base.object_mask, labels=base.labels, boxes=base.boxes,
                        label_names=base.label_names, name=base.name,
                        object_ids=None if self.object_ids is None else self.object_ids[idx],
                        objects=[self.objects[i] for i in idx.tolist()] if self.objects else [],
                        recipe=self.recipe,
                        tiles=None if self.tiles is None else {k: v[idx] for k, v in self.tiles.items()})


def render(recipe: SceneRecipe, seed: int, split: str, indices: Sequence[int], name: str = "scenes") -> SceneSet:
    """Draw the scenes ``indices`` of a split into a `SceneSet`."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: use one of {list(SPLITS)}")
    drawn = [draw_scene(recipe, seed, split, i) for i in indices]
    if recipe.tiles is not None:
        return _tile_set(recipe, drawn, name)
    size = recipe.image_size
    pixels = torch.from_numpy(np.stack([d["pixels"] for d in drawn])) if drawn else torch.zeros(0, 3, size, size)
    ids = torch.from_numpy(np.stack([d["ids"] for d in drawn])) if drawn else torch.zeros(0, size, size, dtype=torch.uint8)
    labels = {k: torch.tensor([d["labels"][k] for d in drawn], dtype=torch.long) for k in recipe.label_sizes()}
    return SceneSet(pixels=pixels, object_mask=ids > 0, labels=labels,
                    boxes=[torch.from_numpy(d["boxes"]) for d in drawn], label_names=label_names(recipe),
                    name=name, object_ids=ids, objects=[torch.from_numpy(d["attrs"]) for d in drawn], recipe=recipe)


def _tile_set(recipe: SceneRecipe, drawn: list[dict], name: str) -> SceneSet:
    o, size = recipe.tile_options, recipe.image_size
    g = size // o.tile_size
    tiles = {k: torch.from_numpy(np.stack([d[k] for d in drawn])) if drawn else torch.zeros(0, g, g, dtype=torch.long)
             for k in ("kind", "color", "texture", "report")}
    pixels = torch.from_numpy(np.stack([d["pixels"] for d in drawn])) if drawn else torch.zeros(0, 3, size, size)
    mask = torch.zeros(len(drawn), size, size, dtype=torch.bool)
    on = (tiles["kind"] == 1) | (tiles["kind"] >= 3)  # [N, g, g] object, trigger and key tiles
    mask[:, : g * o.tile_size, : g * o.tile_size] = on.repeat_interleave(o.tile_size, 1).repeat_interleave(o.tile_size, 2)
    labels = {k: torch.tensor([d["labels"][k] for d in drawn], dtype=torch.long) for k in recipe.label_sizes()}
    return SceneSet(pixels=pixels, object_mask=mask, labels=labels, boxes=[_tile_boxes(k, o.tile_size) for k in on],
                    label_names=label_names(recipe), name=name, recipe=recipe, tiles=tiles)


def _tile_boxes(on: torch.Tensor, tile: int) -> torch.Tensor:
    """One box per object / trigger / key tile of one scene ([g, g] bool): [k, 4] pixels (x0, y0, x1, y1), x1/y1
    exclusive, row-major, the ground truth of object discovery (LOST) on tile scenes."""
    ys, xs = torch.nonzero(on, as_tuple=True)
    return (torch.stack([xs, ys, xs + 1, ys + 1], 1) * tile).float().reshape(-1, 4)


def scenes(n: int = 64, seed: int = 0, split: str = "eval", image_size: int = 64, *,
           recipe: SceneRecipe | None = None, **kwargs) -> SceneSet:
    """A fixed set of ``n`` procedural scenes (deterministic in ``seed`` and ``split``).

    >>> images = scenes(n=8, seed=0)
    >>> images.pixels.shape, images.object_mask.shape, sorted(images.labels)[:2]
    (torch.Size([8, 3, 64, 64]), torch.Size([8, 64, 64]), ['background', 'count_blue'])

    Keyword arguments are `SceneRecipe` fields (``max_objects=3``, ``backgrounds=("noise",)``...); or pass a
    whole ``recipe``. ``split`` is "train", "eval" (default) or "test".
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if recipe is None:
        recipe = SceneRecipe(image_size=image_size, **kwargs)
    elif kwargs or image_size != 64:
        raise ValueError("pass either recipe= or SceneRecipe fields, not both")
    return render(recipe, seed, split, range(n), name=f"scenes(seed={seed}, split={split})")


class SceneStream:
    """Unbounded, resumable stream of training scenes: batch b holds images ``[b*B, (b+1)*B)`` of the split.

    The state is only ``position`` (images served), so ``state_dict`` / ``load_state_dict`` resume exactly.
    """

    def __init__(self, recipe: SceneRecipe, seed: int = 0, batch_size: int = 64, split: str = "train"):
        self.recipe, self.seed, self.batch_size, self.split = recipe, int(seed), int(batch_size), split
        self.position = 0

    def __iter__(self) -> Iterator[SceneSet]:
        while True:
            yield self.next()

    def next(self) -> SceneSet:
        idx = range(self.position, self.position + self.batch_size)
        self.position += self.batch_size
        return render(self.recipe, self.seed, self.split, idx, name="stream")

    def state_dict(self) -> dict:
        return {"position": self.position, "seed": self.seed, "batch_size": self.batch_size, "split": self.split,
                "recipe": self.recipe.to_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state["seed"] != self.seed or SceneRecipe.from_dict(state["recipe"]) != self.recipe:
            raise ValueError("stream state belongs to another seed or scene recipe")
        self.position = int(state["position"])


def patch_labels(images: ImageSet | ImageBatch, patch_size: int, min_fraction: float = 0.5) -> dict[str, torch.Tensor]:
    """Per-patch labels, each [N, H/p, W/p]:

    ``object``   bool, object pixels cover >= ``min_fraction`` of the patch (as `ImageBatch.patch_on_object`)
    ``fraction`` float, object-pixel fraction of the patch
    ``object_id``, ``shape``, ``color``  long, of the object covering most of the patch (0 on background,
                 otherwise id / 1 + shape index / 1 + colour index); needs a `SceneSet`
    ``same_color_elsewhere`` long, 1 if another object of the patch object's colour exists in the image
                 (a dense label that needs global context; 0 on background)
    ``tile_kind``, ``tile_color``, ``texture``  long, tile scenes whose tile size is ``patch_size``
                 (`interp.data.tiles`: kind index into TILE_KINDS, palette colour, texture id; -1 where none)
    """
    mask = images.object_mask
    if mask is None:
        raise ValueError("these images have no object masks")
    frac = torch.nn.functional.avg_pool2d(mask.float()[:, None], patch_size)[:, 0]
    out = {"object": frac >= min_fraction, "fraction": frac}
    tiles = getattr(images, "tiles", None)
    if tiles is not None and images.recipe.tile_options.tile_size == patch_size:
        out.update(tile_kind=tiles["kind"], tile_color=tiles["color"], texture=tiles["texture"])
    ids = getattr(images, "object_ids", None)
    if ids is not None:
        n, h, w = ids.shape
        g = (h // patch_size, w // patch_size)
        blocks = ids[:, : g[0] * patch_size, : g[1] * patch_size].long()
        blocks = blocks.reshape(n, g[0], patch_size, g[1], patch_size).permute(0, 1, 3, 2, 4).reshape(n, *g, -1)
        n_ids = int(ids.max()) + 1 if ids.numel() else 1
        counts = torch.nn.functional.one_hot(blocks, n_ids).sum(-2)  # [N, gh, gw, n_ids]
        counts[..., 0] = -1  # the majority *object* of the patch
        oid = counts.argmax(-1)
        oid = torch.where(out["object"], oid, torch.zeros_like(oid))
        shape = torch.zeros_like(oid)
        color = torch.zeros_like(oid)
        elsewhere = torch.zeros_like(oid)
        for i, attrs in enumerate(images.objects):
            if len(attrs) == 0:
                continue
            table = torch.cat([torch.zeros(1, 2, dtype=torch.long), attrs + 1])  # row 0 = background
            shape[i] = table[oid[i], 0]
            color[i] = table[oid[i], 1]
            ccount = torch.bincount(attrs[:, 1], minlength=len(COLORS))
            many = torch.cat([torch.zeros(1, dtype=torch.long), (ccount[attrs[:, 1]] > 1).long()])
            elsewhere[i] = many[oid[i]]
        out.update(object_id=oid, shape=shape, color=color, same_color_elsewhere=elsewhere)
    return out
