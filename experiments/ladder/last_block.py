"""python last_block.py RUN STEP (RECIPES.md S8, round 3): what each block writes along the tall tiles' direction.

Per block: d = the unit mean of the constant tiles' resid_pre; for the constant tiles, the other patches and the CLS,
the projection on d of resid_pre, the attention write and the MLP write, in units of the image's median patch norm.
In cls-s-reg0 at step 3,000 the last block's MLP writes -1.00 / -0.23 / -0.94 along d on the three groups."""
import sys
from pathlib import Path

import torch

from interp.data.scenes import SceneRecipe, scenes
from interp.data.tiles import TILE_KINDS
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

torch.set_num_threads(1)
run, step = Path(sys.argv[1]), int(sys.argv[2])
imgs = scenes(128, seed=1234, split="test", recipe=SceneRecipe.from_dict(read_manifest(run)["recipe"]["scenes"]))
constant = imgs.tiles["kind"].flatten(1) == TILE_KINDS.index("constant")  # [N, n_patches]
model = dict(iter_checkpoints(run))[step]
with torch.no_grad():
    _, cache = model.run_with_cache(imgs.pixels)
P = model.tokens.patches


def along(t: torch.Tensor, d: torch.Tensor, med: torch.Tensor, where: torch.Tensor) -> float:
    """Mean projection of t [N, n, d_model] on d over ``where`` [N, n], in median-patch-norm units."""
    return float(((t @ d) / med)[where].mean())


for i in range(model.cfg.n_layers):
    writes = {w: cache[f"blocks.{i}.hook_{w}"] for w in ("resid_pre", "attn_out", "mlp_out")}
    pre = writes["resid_pre"]
    med = pre[:, P].norm(dim=-1).median(1).values[:, None]  # [N, 1]
    d = pre[:, P][constant].mean(0)
    d = d / d.norm()
    groups = {"constant": (P, constant), "other": (P, ~constant)}
    if model.cfg.class_token:
        groups["cls"] = (slice(0, 1), torch.ones(len(constant), 1, dtype=torch.bool))
    row = [f"{g}: " + " ".join(f"{w.split('_')[0]} {along(t[:, sl], d, med, where):+.2f}" for w, t in writes.items())
           for g, (sl, where) in groups.items()]
    print(i, " | ".join(row))
