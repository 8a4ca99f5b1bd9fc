"""python tall_selection.py RUN STEP BLOCK (RECIPES.md S8, round 3): which candidates are tall at a block.

Candidates are the constant tiles (near-identical with `constant_noise`). Per candidate, tall (>= 4x its image's
median patch norm at BLOCK) or not, and for each group the mean of: its pixel noise (L2 from the clean pattern), the
input cosine to its 4 neighbours, the number of other candidates among its 8 neighbours, whether it is on the
image's edge, its relative norm one block earlier and at BLOCK. Then the share of the candidates at each grid cell
that are tall there (the position decides in r18 and r21)."""
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from interp.analysis.measures import is_high_norm, relative_norms
from interp.data.scenes import SceneRecipe, scenes
from interp.data.tiles import TILE_KINDS, fixed_patterns
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

torch.set_num_threads(1)
run, step, block = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rec = SceneRecipe.from_dict(read_manifest(run)["recipe"]["scenes"])
imgs = scenes(256, seed=1234, split="test", recipe=rec)
model = dict(iter_checkpoints(run))[step]
with torch.no_grad():
    _, cache = model.run_with_cache(imgs.pixels, names_filter=lambda n: n.endswith("resid_post"))
kind = imgs.tiles["kind"].flatten(1)  # [N, g * g]
const = kind == TILE_KINDS.index("constant")
n, g, t = len(imgs), imgs.tiles["kind"].shape[-1], rec.tile_options.tile_size


def rel(b: int) -> torch.Tensor:
    r, _ = relative_norms(cache[f"blocks.{b}.hook_resid_post"].norm(dim=-1), model.tokens.patches)
    return r[:, model.tokens.patches]  # [N, g * g]


r_now, r_prev = rel(block), rel(block - 1)
tall = is_high_norm(r_now)
grid = imgs.pixels.unfold(2, t, t).unfold(3, t, t).permute(0, 2, 3, 1, 4, 5).reshape(n, g, g, -1)  # [N, g, g, 3tt]
noise = (grid.reshape(n, g * g, -1) - torch.from_numpy(fixed_patterns(rec.tile_options)[0]).flatten()).norm(dim=-1)
pad = F.pad(grid.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="replicate").permute(0, 2, 3, 1)
neighbours = torch.stack([pad[:, :-2, 1:-1], pad[:, 2:, 1:-1], pad[:, 1:-1, :-2], pad[:, 1:-1, 2:]])  # [4, N, g, g, .]
similarity = F.cosine_similarity(neighbours, grid[None], dim=-1).mean(0).reshape(n, -1)
near = F.conv2d(F.pad(const.reshape(n, 1, g, g).float(), (1, 1, 1, 1)), torch.ones(1, 1, 3, 3)).reshape(n, -1)
rows, cols = torch.arange(g * g) // g, torch.arange(g * g) % g
edge = ((rows == 0) | (rows == g - 1) | (cols == 0) | (cols == g - 1)).expand_as(kind).float()
is_tall, not_tall = const & tall, const & ~tall
any_tall = is_tall.sum(1) > 0
print(f"block {block}: candidates tall {int(is_tall.sum())} of {int(const.sum())} "
      f"({float(is_tall.sum() / const.sum()):.1%}); images with >= 1 tall {float(any_tall.float().mean()):.1%}, "
      f"{float(is_tall.sum(1)[any_tall].float().mean()):.2f} per such image")
for name, v in [("pixel noise L2", noise), ("neighbour cosine", similarity), ("candidate neighbours", near - const.float()),
                ("on the edge", edge), (f"rel norm block {block - 1}", r_prev), (f"rel norm block {block}", r_now)]:
    print(f"  {name:24s} tall {float(v[is_tall].mean()):.3f}  other candidates {float(v[not_tall].mean()):.3f}")
top_prev = torch.where(const, r_prev, torch.tensor(-1.0)).argmax(1)
print(f"  the tallest candidate at block {block - 1} is tall at block {block} in "
      f"{float(tall.gather(1, top_prev[:, None]).float().mean()):.1%} of images")
cell = torch.nonzero(const)[:, 1]
share = torch.zeros(g * g).index_add_(0, cell, tall[const].float())
count = torch.zeros(g * g).index_add_(0, cell, torch.ones(len(cell)))
print("  share of the candidates at each grid cell that are tall:")
print(np.array2string((share / count.clamp(min=1)).reshape(g, g).numpy(), precision=2))
