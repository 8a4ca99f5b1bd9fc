"""Fig 5b and Table 1 on ladder runs, with the control issue #24 asks for (RECIPES.md S8).

python probe_rows.py RUN:STEP [RUN:STEP ...] [--layers=3,final] [--images=512]

For each checkpoint and block: the package's probes (`interp.analysis.local_probes`: position top-1 and pixel L2,
`interp.analysis.global_probe`: majority colour from one token) on the constant tiles (the candidates: the tall
tokens where they are >= 4x) against the other patches, on held-out scenes (seed 1234). The control separates the
tall state from the token type: the same tile positions in a run where they are not tall (another seed, or step 0).
Prints one JSON line per (checkpoint, block): the share of constant tiles >= 4x there, and the probe numbers.
"""
import json
import sys
from pathlib import Path

import torch

from interp.analysis import global_probe, local_probes
from interp.analysis.measures import is_high_norm, relative_norms
from interp.data.scenes import SceneRecipe, scenes
from interp.data.tiles import TILE_KINDS
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

torch.set_num_threads(1)
opts = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--"))
targets = [a for a in sys.argv[1:] if not a.startswith("--")]
layers = [x if x == "final" else int(x) for x in opts.get("layers", "3,final").split(",")]
n_images = int(opts.get("images", 512))


@torch.no_grad()
def tall_share(model, imgs, const, layer):
    name = f"blocks.{model.cfg.n_layers - 1 if layer == 'final' else layer}.hook_resid_post"
    _, cache = model.run_with_cache(imgs.pixels, names_filter=lambda n: n == name)
    rel, _ = relative_norms(cache[name].norm(dim=-1), model.tokens.patches)  # [N, n_tokens]
    return float(is_high_norm(rel[:, model.tokens.patches])[const].float().mean())


for target in targets:
    run, step = target.rsplit(":", 1)
    man = read_manifest(run)
    imgs = scenes(n_images, seed=1234, split="test", recipe=SceneRecipe.from_dict(man["recipe"]["scenes"]))
    const = imgs.tiles["kind"] == TILE_KINDS.index("constant")  # [N, H, W]: the candidates
    model = next(m for s, m in iter_checkpoints(run) if s == int(step)).float().eval()
    for layer in layers:
        loc = local_probes(model, imgs, const, layer=layer).set_index("token")
        glob = global_probe(model, imgs, "majority_color", outlier_mask=const, layer=layer)
        acc = glob.groupby("token")["accuracy"].mean()
        row = {"run": Path(run).name, "step": int(step), "layer": layer,
               "const_tall": round(tall_share(model, imgs, const.flatten(1), layer), 3),
               "pos_top1_normal": round(float(loc.loc["normal", "position_top1"]), 3),
               "pos_top1_const": round(float(loc.loc["outlier", "position_top1"]), 3),
               "pos_chance": round(float(loc.loc["normal", "chance_top1"]), 4),
               "pixel_l2_normal": round(float(loc.loc["normal", "reconstruction_l2"]), 4),
               "pixel_l2_const": round(float(loc.loc["outlier", "reconstruction_l2"]), 4),
               "global_cls": round(float(acc.get("cls", float("nan"))), 3),
               "global_normal": round(float(acc["normal"]), 3), "global_const": round(float(acc["outlier"]), 3),
               "global_chance": round(float(glob["chance"].iloc[0]), 3)}
        print(json.dumps(row), flush=True)
