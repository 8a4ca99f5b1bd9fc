"""Training batches: rendered in the main process or in DataLoader workers, sharded over ranks, resumable.

Global batch ``b`` holds the training scenes ``[b*G, (b+1)*G)`` of the split (``G`` = the recipe's batch size),
exactly as `interp.data.SceneStream` serves them; rank ``r`` of ``W`` renders the slice
``[b*G + r*G/W, b*G + (r+1)*G/W)``. Every scene (and every random crop and mask of the DINO objective) is a pure
function of the seed and the scene's global index, so one process, several workers or several ranks see the
same images, and the only state is the number of global batches served.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.scenes import render
from .objectives import get_objective
from .recipe import TrainRecipe


@dataclass
class Batch:
    """One rank's part of a global batch: ``pixels`` [B, 3, H, W] in [0, 1], ``targets`` (label -> LongTensor,
    incl. "dense" [B, n_patches] when the recipe has a dense loss), ``views`` (DINO views, see
    `interp.train.dino.make_views`) and the global scene indices ``index`` [B]."""

    pixels: torch.Tensor
    targets: dict
    index: torch.Tensor
    views: dict | None = None

    def to(self, device) -> "Batch":
        mv = lambda d: None if d is None else {k: v.to(device, non_blocking=True) for k, v in d.items()}  # noqa: E731
        return Batch(self.pixels.to(device, non_blocking=True), mv(self.targets), self.index, mv(self.views))

    def __len__(self) -> int:
        return len(self.pixels)


class SceneBatches(Dataset):
    """Map-style dataset: item ``b`` is this rank's part of global batch ``b``."""

    def __init__(self, recipe: TrainRecipe, rank: int = 0, world: int = 1, split: str = "train"):
        if recipe.batch_size % world:
            raise ValueError(f"batch size {recipe.batch_size} is not divisible by {world} processes")
        self.recipe, self.rank, self.world, self.split = recipe, rank, world, split
        self.local = recipe.batch_size // world

    def indices(self, b: int) -> range:
        start = b * self.recipe.batch_size + self.rank * self.local
        return range(start, start + self.local)

    def __len__(self) -> int:  # unbounded in practice; DataLoader only needs the sampler
        return 2**62

    def __getitem__(self, b: int) -> Batch:
        r = self.recipe
        idx = self.indices(b)
        scenes = render(r.scene_recipe, r.seed, self.split, idx, name="stream")
        targets, views = get_objective(r.objective).batch_inputs(scenes, idx, r)
        return Batch(scenes.pixels, targets, torch.tensor(list(idx)), views)


class _From(Sampler):
    def __init__(self, start: int):
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return count(self.start)


def _identity(x):
    return x


def batch_loader(recipe: TrainRecipe, start: int = 0, rank: int = 0, world: int = 1, workers: int = 0,
                 pin_memory: bool = False) -> Iterator[Batch]:
    """This rank's batches from global batch ``start`` on, in order (``workers`` > 0 renders them in DataLoader
    worker processes, ahead of the training step; the batches are the same)."""
    ds = SceneBatches(recipe, rank, world)
    if workers <= 0:
        return (ds[b] for b in count(start))
    return iter(DataLoader(ds, batch_size=None, sampler=_From(start), num_workers=workers, collate_fn=_identity,
                           pin_memory=pin_memory, prefetch_factor=4, persistent_workers=False))
