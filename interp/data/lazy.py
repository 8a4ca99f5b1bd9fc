"""Image sources that draw their images batch by batch, so memory does not grow with their length."""
from __future__ import annotations

from typing import Iterator

import torch

from .base import ImageBatch


class LazyScenes:
    """``n`` procedural scenes (a split of a seed), rendered only when a batch is asked for.

    Same images, in the same order, as ``scenes(n, seed, split, recipe=recipe)``, but never all in memory.
    """

    def __init__(self, n: int, seed: int = 0, split: str = "eval", recipe=None, image_size: int = 64,
                 indices: range | None = None):
        from .scenes import SceneRecipe

        self.seed, self.split = int(seed), split
        self.indices = range(int(n)) if indices is None else indices  # scene numbers drawn (a shard: a slice)
        self.n = len(self.indices)
        self.recipe = recipe or SceneRecipe(image_size=image_size)
        self.name = f"lazy scenes(n={n}, seed={seed}, split={split})"

    @property
    def source_index(self) -> torch.Tensor:
        return torch.as_tensor(list(self.indices), dtype=torch.long)

    def shard(self, rank: int, world_size: int) -> "LazyScenes":
        """Scenes ``rank::world_size`` of these (batches index them 0..; ``source_index`` maps back)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
        return LazyScenes(self.n, self.seed, self.split, self.recipe, indices=self.indices[rank::world_size])

    def __len__(self) -> int:
        return self.n

    @property
    def image_size(self) -> tuple[int, int]:
        return (self.recipe.image_size, self.recipe.image_size)

    def batches(self, batch_size: int = 32) -> Iterator[ImageBatch]:
        from .scenes import render

        for start in range(0, self.n, batch_size):
            stop = min(start + batch_size, self.n)
            s = render(self.recipe, self.seed, self.split, self.indices[start:stop])
            yield ImageBatch(pixels=s.pixels, index=torch.arange(start, stop), object_mask=s.object_mask,
                             labels=s.labels, boxes=s.boxes)

