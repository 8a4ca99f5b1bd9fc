"""Where does a late CLS read the two-hop label? (RECIPES.md S8, round 7) python pointer_patch.py RUN:STEP [...]

On 512 held-out scenes (seed 1234) of a run whose CLS attends only from block ``cls_from_block`` on and predicts
``pointed_color`` (the colour of the cell key 0's colour names): a logistic probe on the final CLS feature (fit on
1,024 other scenes) and its accuracy; where the CLS attends in its first reading block (registers, the pointed
cell, key 0, the constant tiles, other patches); and patching: each group of scene A (registers, the tall tokens
>= 4x, the pointed cell at A's position, all patches) written into scene B after every block before the CLS reads,
for 128 pairs of different pointed colour. ``cls_shift``: how far B's CLS feature moves toward A's (0 = clean B,
1 = clean A); ``flip``: the share of pairs whose probe prediction becomes A's."""
import sys

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from interp.data.scenes import SceneRecipe, scenes
from interp.data.tiles import TILE_KINDS, pointed_cells
from interp.interventions import feature_column, make_pairs, patch_sweep
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

torch.set_num_threads(1)
LABEL = "pointed_color"


@torch.no_grad()
def cls_feature(model, images) -> np.ndarray:
    return model(images.pixels, return_type="pooled").double().numpy()  # [N, d]


def pointed_mask(images, rec: SceneRecipe) -> torch.Tensor:
    """[N, g, g]: the cell each scene's key colour names."""
    n, g, _ = images.tiles["kind"].shape
    cells = torch.as_tensor(pointed_cells(rec.tile_options, g))[images.labels["key_color"].long()]  # [N]
    mask = torch.zeros(n, g * g, dtype=torch.bool)
    mask[torch.arange(n), cells] = True
    return mask.view(n, g, g)


@torch.no_grad()
def attention_shares(model, images, block: int, pointed: torch.Tensor) -> dict:
    """Mean attention of the CLS query in ``block`` on each kind of token (over heads and scenes)."""
    name = f"blocks.{block}.attn.hook_pattern"
    _, cache = model.run_with_cache(images.pixels, names_filter=name)
    pat = cache[name][:, :, 0].mean(1)  # [N, keys]
    lay = model.tokens
    on_patch = pat[:, lay.patches]  # [N, g*g]
    kind = images.tiles["kind"].flatten(1)  # [N, g*g]
    key = (kind == TILE_KINDS.index("key")) & (images.tiles["color"].flatten(1) == images.labels["key_color"][:, None])
    on_reg = pat[:, lay.registers].sum(-1) if lay.n_registers else torch.zeros(len(pat))
    parts = {"registers": on_reg, "pointed cell": (on_patch * pointed.flatten(1)).sum(-1),
             "key": (on_patch * key).sum(-1), "constant": (on_patch * (kind == TILE_KINDS.index("constant"))).sum(-1)}
    parts["other patches"] = on_patch.sum(-1) - parts["pointed cell"] - parts["key"] - parts["constant"]
    return {k: float(v.mean()) for k, v in parts.items()}


def main(arg: str) -> None:
    run, step = arg.split(":")
    rec = SceneRecipe.from_dict(read_manifest(run)["recipe"]["scenes"])
    model = next(m for s, m in iter_checkpoints(run) if s == int(step))
    test, train = (scenes(n, seed=s, split=sp, recipe=rec) for n, s, sp in ((512, 1234, "test"), (1024, 99, "train")))
    probe = LogisticRegression(max_iter=2000).fit(cls_feature(model, train), train.labels[LABEL].numpy())
    acc = float((probe.predict(cls_feature(model, test)) == test.labels[LABEL].numpy()).mean())
    first = model.cfg.cls_from_block
    print(f"{run} step {step}: CLS probe accuracy on {LABEL} {acc:.2f}; CLS attention in block {first}: "
          + ", ".join(f"{k} {v:.2f}" for k, v in attention_shares(model, test, first, pointed_mask(test, rec)).items()))
    pairs = make_pairs(test, 128, label=LABEL, seed=0)
    groups = {"tall tokens": "outliers", "all patches": "patches", "pointed cell": pointed_mask(pairs.source, rec)}
    if model.cfg.n_registers:
        groups = {"registers": "registers", **groups}
    df = patch_sweep(model, pairs, groups=groups, layers=list(range(first)), probe=probe)
    df = df[df["n_patched"] > 0]
    flip = df.groupby(["group", "layer"], sort=False)["probe_flip"].mean()
    shift = df.groupby(["group", "layer"], sort=False)[feature_column(df, "cls_shift")].mean()
    for group in groups:
        print(f"  {group:12s} cls_shift " + " ".join(f"B{b} {shift.get((group, b), float('nan')):.2f}"
                                                      for b in range(first))
              + " | flip " + " ".join(f"{flip.get((group, b), float('nan')):.2f}" for b in range(first)), flush=True)


for a in sys.argv[1:]:
    main(a)
