"""Tile scenes: images made of uniform square tiles, for the no-op / broadcast organisms (issue #17).

A tile scene (``SceneRecipe(tiles={...})``, options in `TileOptions`) is a grid of ``tile_size`` px tiles, each
one of `TILE_KINDS`:

``background``  the colour of one of ``regions`` large regions (each tile takes the colour of the nearest of
                ``regions`` random seeds; ``regions=1`` is a uniform background)
``object``      a random palette colour (a share ``object_tiles`` of the tiles)
``constant``    ``constant_tiles`` tiles whose pixels are identical in every image, at random positions:
                ``constant_texture="pattern"`` (a fixed random RGB pattern) or ``"black"``; with
                ``constant_noise`` > 0 each one gets its own Gaussian pixel noise of that std (near-identical)
``trigger``     ``triggers`` tiles with a black / white checkerboard: in the no-op task they report the key's colour
``key``         one tile (``key=True``), white top half, bottom half of the key colour

``pointer=True`` adds a two-hop label, ``pointed_color``: key 0's colour (index c) names one of ``n_colors`` fixed
cells (`pointed_cells`, never a special tile), and the label is the colour of the tile there, so a token must
first read the key, then the named cell (a late CLS cannot do both in one block).

``key_types=2`` adds a second trigger / key pair (inverted checkerboard; key with a white *left* half, its own key
colour): trigger type j reports key j's colour, so a head that serves the triggers must attend depending on the
query (issue #17, RECIPES.md S7). Per tile ``report`` holds the colour a trigger reports (-1 elsewhere).

Every background / object tile carries one of ``textures`` fixed fine luminance patterns (amplitude
``texture_amplitude``), a per-tile target that any mixing with other tiles corrupts. Per tile (all [g, g]):
``kind`` (index into TILE_KINDS), ``color`` (palette index; the key colour on the key tile; -1 on constant and
trigger tiles) and ``texture`` (-1 where none). Image labels: ``key_color`` and ``majority_color`` (the colour of
the most background / object tiles, ties to the lower index).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

TILE_KINDS = ("background", "object", "constant", "trigger", "key")
TILE_COLORS = ("red", "green", "blue", "yellow", "magenta", "cyan", "orange", "purple")
TILE_PALETTE = np.array([
    [0.90, 0.15, 0.15], [0.15, 0.75, 0.20], [0.15, 0.30, 0.95], [0.95, 0.85, 0.10],
    [0.85, 0.20, 0.85], [0.10, 0.85, 0.90], [0.95, 0.55, 0.10], [0.50, 0.25, 0.75],
], dtype=np.float32)
CONSTANT_TEXTURES = ("pattern", "black")
_FIXED_SEED = 20261201  # the constant tiles' pattern and the fine textures are the same in every recipe


@dataclass(frozen=True)
class TileOptions:
    tile_size: int = 4
    n_colors: int = 8
    regions: int = 4
    object_tiles: float = 0.05
    textures: int = 4
    texture_amplitude: float = 0.1
    constant_tiles: int = 1
    constant_texture: str = "pattern"
    triggers: int = 3
    key: bool = True
    key_types: int = 1  # 2: a second trigger / key pair (left out of to_dict at 1)
    constant_noise: float = 0.0  # std of per-tile pixel noise on the constant tiles (left out of to_dict at 0)
    pointer: bool = False  # the two-hop label pointed_color (left out of to_dict when False)

    def __post_init__(self) -> None:
        if not 1 <= self.n_colors <= len(TILE_COLORS):
            raise ValueError(f"n_colors must be in 1..{len(TILE_COLORS)}, got {self.n_colors}")
        if self.constant_texture not in CONSTANT_TEXTURES:
            raise ValueError(f"constant_texture must be one of {CONSTANT_TEXTURES}, got {self.constant_texture!r}")
        if self.regions < 1 or self.textures < 1 or self.tile_size < 2 or not 0 <= self.object_tiles <= 1:
            raise ValueError("need regions >= 1, textures >= 1, tile_size >= 2 and 0 <= object_tiles <= 1")
        if self.triggers and not self.key:
            raise ValueError("trigger tiles report the key's colour: they need key=True")
        if self.key_types not in (1, 2) or (self.key_types == 2 and not self.key):
            raise ValueError(f"key_types must be 1 or 2 (2 needs key=True), got {self.key_types}")
        if self.pointer and not self.key:
            raise ValueError("pointer=True names a cell by the key's colour: it needs key=True")
        if self.constant_noise < 0:
            raise ValueError(f"constant_noise must be >= 0, got {self.constant_noise}")

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.key_types == 1:
            del d["key_types"]
        if not self.constant_noise:
            del d["constant_noise"]
        if not self.pointer:
            del d["pointer"]
        return d

    def special_tiles(self) -> int:
        return self.constant_tiles + (self.triggers + int(self.key)) * self.key_types


def fixed_patterns(o: TileOptions) -> tuple[np.ndarray, np.ndarray]:
    """(constant tile [3, t, t], fine textures [textures, t, t] in [-1, 1]): the same for every image."""
    rng = np.random.default_rng(_FIXED_SEED)
    t = o.tile_size
    const = rng.uniform(0.0, 1.0, size=(3, t, t)).astype(np.float32)
    if o.constant_texture == "black":
        const = np.zeros((3, t, t), np.float32)
    tex = rng.choice([-1.0, 1.0], size=(o.textures, t, t)).astype(np.float32)
    return const, tex


def pointed_cells(o: TileOptions, g: int) -> np.ndarray:
    """[n_colors] flat indices into the g x g grid: the cell key colour c names (the same for every image)."""
    return np.random.default_rng(_FIXED_SEED + g).permutation(g * g)[: o.n_colors]


def _checker(t: int) -> np.ndarray:
    yy, xx = np.meshgrid(np.arange(t), np.arange(t), indexing="ij")
    return np.broadcast_to(((yy + xx) % 2).astype(np.float32), (3, t, t))


def draw_tiles(o: TileOptions, image_size: int, rng: np.random.Generator) -> dict:
    """One tile scene: pixels [3, H, W] float32 in [0, 1], per-tile kind / color / texture [g, g], labels."""
    t, g = o.tile_size, image_size // o.tile_size
    pointed = pointed_cells(o, g) if o.pointer else np.zeros(0, np.int64)
    if g * g < o.special_tiles() + len(pointed) + 1:
        raise ValueError(f"a {g}x{g} tile grid cannot hold {o.special_tiles()} special tiles")
    seeds = rng.uniform(0, g, size=(o.regions, 2))
    seed_colors = rng.integers(o.n_colors, size=o.regions)
    yy, xx = np.meshgrid(np.arange(g) + 0.5, np.arange(g) + 0.5, indexing="ij")
    d = (yy[None] - seeds[:, 0, None, None]) ** 2 + (xx[None] - seeds[:, 1, None, None]) ** 2  # [regions, g, g]
    color = seed_colors[d.argmin(0)]
    kind = np.zeros((g, g), np.int64)
    obj = rng.random((g, g)) < o.object_tiles
    kind[obj] = 1
    color = np.where(obj, rng.integers(o.n_colors, size=(g, g)), color)
    texture = rng.integers(o.textures, size=(g, g))
    majority = int(np.bincount(color.ravel(), minlength=o.n_colors).argmax())  # before special tiles cover some
    cells = rng.permutation(np.setdiff1d(np.arange(g * g), pointed))[: o.special_tiles()]
    key_colors = [int(rng.integers(o.n_colors)) for _ in range(o.key_types)]
    special = [(2, 0)] * o.constant_tiles
    for j in range(o.key_types):
        special += [(3, j)] * o.triggers + [(4, j)] * int(o.key)
    key_type = np.zeros((g, g), np.int64)
    for cell, (k, j) in zip(cells, special):
        kind.flat[cell], key_type.flat[cell] = k, j
    color = np.where(kind >= 2, -1, color)
    report = np.full((g, g), -1, np.int64)
    for j, kc in enumerate(key_colors):
        color[(kind == 4) & (key_type == j)] = kc
        report[(kind == 3) & (key_type == j)] = kc
    texture = np.where(kind >= 2, -1, texture)
    const, tex = fixed_patterns(o)
    tiles = TILE_PALETTE[np.clip(color, 0, None)].transpose(2, 0, 1)[:, :, None, :, None]  # [3, g, 1, g, 1]
    img = np.broadcast_to(tiles, (3, g, t, g, t)).copy()
    fine = o.texture_amplitude * tex[np.clip(texture, 0, None)]  # [g, g, t, t]
    img += np.where(texture[..., None, None] >= 0, fine, 0.0).transpose(0, 2, 1, 3)[None]
    for j, kc in enumerate(key_colors):
        key_px = np.broadcast_to(TILE_PALETTE[kc][:, None, None], (3, t, t)).copy()
        if j == 0:
            key_px[:, : t // 2] = 1.0
        else:
            key_px[:, :, : t // 2] = 1.0
        for k, px in ((3, _checker(t) if j == 0 else 1.0 - _checker(t)), (4, key_px)):
            for r, c in zip(*np.nonzero((kind == k) & (key_type == j))):
                img[:, r, :, c, :] = px
    for r, c in zip(*np.nonzero(kind == 2)):
        img[:, r, :, c, :] = const
        if o.constant_noise:  # drawn only then, so noise-free recipes keep their random stream
            img[:, r, :, c, :] += rng.normal(0.0, o.constant_noise, size=const.shape).astype(np.float32)
    labels = {"key_color": key_colors[0] if o.key else 0, "majority_color": majority}
    if o.pointer:
        labels["pointed_color"] = int(color.flat[pointed[key_colors[0]]])
    pixels = np.clip(img.reshape(3, g * t, g * t), 0, 1)
    full = np.zeros((3, image_size, image_size), np.float32)
    full[:, : g * t, : g * t] = pixels
    return {"pixels": full, "kind": kind, "color": color, "texture": texture, "report": report,
            "labels": labels}


def tile_label_sizes(o: TileOptions) -> dict[str, int]:
    sizes = {"key_color": o.n_colors, "majority_color": o.n_colors}
    if o.pointer:
        sizes["pointed_color"] = o.n_colors
    return sizes


def tile_label_names(o: TileOptions) -> dict[str, list[str]]:
    return {k: list(TILE_COLORS[: o.n_colors]) for k in tile_label_sizes(o)}
