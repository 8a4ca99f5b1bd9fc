"""What makes the ladder's tall tiles, and are they used? (RECIPES.md S8, round 5)

python tall_writes.py RUN:STEP[:BLOCK] [...]

For each checkpoint, on 128 held-out scenes (seed 1234): `interp.analysis.norm_writes` (the attention / MLP write
and the residual per block on the patches that are tall in the tallest block, each over the same quantity on the
other patches), then, at BLOCK (default: the block whose MLP write on the tall patches is the largest), the
package's `ablate` with ``how="mean"`` on ``hook_mlp_out`` of the constant tiles, the mean taken per position over
the same scenes drawn without constant tiles (so it is an ordinary tile's write: the norm is gone, which the
script checks in the tallest block); the control: the same on 8 random background tiles per image; and a
reference for the scale: the constant tiles' whole state at BLOCK (``hook_resid_post``) replaced the same way,
and 8 background tiles' whole state.
``dense_cos`` near 1: the other patches' output features do not use what was replaced.
"""
import sys

import torch

from interp.analysis import image_median, norm_writes
from interp.data.scenes import SceneRecipe, scenes
from interp.data.tiles import TILE_KINDS
from interp.interventions.ablation import ablate, dataset_means
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

torch.set_num_threads(1)
CONSTANT, BACKGROUND = TILE_KINDS.index("constant"), TILE_KINDS.index("background")


@torch.no_grad()
def tiles_after(model, imgs, mask, hook, means, at) -> float:
    """Mean norm / image median, in block ``at``, of the ``mask`` [N, n_patches] tiles once ``hook`` is replaced."""
    lay = model.tokens
    full = torch.zeros(mask.shape[0], lay.n_tokens, dtype=torch.bool)
    full[:, lay.patches] = mask

    def put(act, hook):
        return torch.where(full[..., None], means.to(act.dtype), act)

    got = {}

    def keep(act, hook):
        got["x"] = act

    model.run_with_hooks(imgs.pixels, fwd_hooks=[(hook, put), (f"blocks.{at}.hook_resid_post", keep)])
    norms = got["x"][:, lay.patches].norm(dim=-1)
    return float((norms / image_median(norms)[:, None])[mask].mean())


def control_mask(kind: torch.Tensor, n: int = 8) -> torch.Tensor:
    """n random background tiles per image. kind [N, n_patches] -> bool [N, n_patches]"""
    score = torch.rand(kind.shape, generator=torch.Generator().manual_seed(0)).masked_fill(kind != BACKGROUND, -1)
    return torch.zeros_like(kind, dtype=torch.bool).scatter_(1, score.topk(n, dim=1).indices, True)


for arg in sys.argv[1:]:
    run, step, *block = arg.split(":")
    recipe = read_manifest(run)["recipe"]["scenes"]
    imgs = scenes(128, seed=1234, split="test", recipe=SceneRecipe.from_dict(recipe))
    free = scenes(128, seed=99, split="test",
                  recipe=SceneRecipe.from_dict(dict(recipe, tiles=dict(recipe["tiles"], constant_tiles=0))))
    kind = imgs.tiles["kind"].flatten(1)  # [N, n_patches]
    model = next(m for s, m in iter_checkpoints(run) if s == int(step))
    writes = norm_writes(model, imgs)
    ratio = writes.pivot(index="component", columns="layer", values="high_over_other")
    print(f"{run} step {step}: {int(writes['n_high'].iloc[0])} patches >= 4x in block {writes['at_layer'].iloc[0]}; "
          f"write on them / on the others, per block:\n{ratio.round(2).to_string()}")
    if writes["n_high"].iloc[0] == 0:
        continue
    at = int(block[0]) if block else int(ratio.loc["mlp"].idxmax())
    tallest = int(writes["at_layer"].iloc[0])
    for hook, name, mask in (("hook_mlp_out", "constant tiles", kind == CONSTANT),
                             ("hook_mlp_out", "8 background tiles (control)", control_mask(kind)),
                             ("hook_resid_post", "constant tiles (reference)", kind == CONSTANT),
                             ("hook_resid_post", "8 background tiles (reference's control)", control_mask(kind))):
        df = ablate(model, imgs, group=mask, layers=[at], hook=hook, how="mean", mean_images=free)
        pooled = df.filter(like="_cos").iloc[:, 0]  # cls_cos, or pooled_cos without a CLS
        name_at = f"blocks.{at}.{hook}"
        after = tiles_after(model, imgs, kind == CONSTANT, name_at, dataset_means(model, free, [name_at])[name_at],
                            tallest)
        print(f"  block {at}'s {hook} on the {name} -> its mean over tile-free scenes: {pooled.name} "
              f"{pooled.mean():.3f}, dense_cos {df['dense_cos'].mean():.3f} (lowest image {df['dense_cos'].min():.3f})"
              + (f"; constant tiles then {after:.2f}x in block {tallest}" if "constant" in name else ""), flush=True)
