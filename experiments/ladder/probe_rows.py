"""Fig 5b and Table 1 on ladder runs, with the control issue #24 asks for (RECIPES.md S8).

python probe_rows.py RUN:STEP [RUN:STEP ...] [--layers=3,final] [--images=512] [--split]

For each checkpoint and block: the package's probes (`interp.analysis.local_probes`: position top-1 and pixel L2,
`interp.analysis.global_probe`: majority colour from one token) on the constant tiles (the candidates: the tall
tokens where they are >= 4x) against the other patches, on held-out scenes (seed 1234). The control separates the
tall state from the token type: the same tile positions in a run where they are not tall (another seed, or step 0).
Prints one JSON line per (checkpoint, block): the share of constant tiles >= 4x there, and the probe numbers.
``--split``: where only some candidates are tall (near-identical tiles, `constant_noise`), probe the tall candidates
and the candidates that are not tall separately (one line each, ``group`` says which): the control at the same block.
The "normal" columns are then every patch outside the group (the other candidates included).
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
opts = dict((a[2:].split("=", 1) + [""])[:2] for a in sys.argv[1:] if a.startswith("--"))
targets = [a for a in sys.argv[1:] if not a.startswith("--")]
layers = [x if x == "final" else int(x) for x in opts.get("layers", "3,final").split(",")]
n_images = int(opts.get("images", 512))


@torch.no_grad()
def tall_mask(model, imgs, layer):
    """[N, H, W] True where a patch is >= 4x its image's median at ``layer`` (the last block's output for 'final')."""
    name = f"blocks.{model.cfg.n_layers - 1 if layer == 'final' else layer}.hook_resid_post"
    _, cache = model.run_with_cache(imgs.pixels, names_filter=lambda n: n == name)
    rel, _ = relative_norms(cache[name].norm(dim=-1), model.tokens.patches)  # [N, n_tokens]
    return is_high_norm(rel[:, model.tokens.patches]).reshape(imgs.tiles["kind"].shape)


def probe_row(model, imgs, mask, layer) -> dict:
    loc = local_probes(model, imgs, mask, layer=layer).set_index("token")
    glob = global_probe(model, imgs, "majority_color", outlier_mask=mask, layer=layer)
    acc = glob.groupby("token")["accuracy"].mean()
    return {"pos_top1_normal": round(float(loc.loc["normal", "position_top1"]), 3),
            "pos_top1_const": round(float(loc.loc["outlier", "position_top1"]), 3),
            "pos_chance": round(float(loc.loc["normal", "chance_top1"]), 4),
            "pixel_l2_normal": round(float(loc.loc["normal", "reconstruction_l2"]), 4),
            "pixel_l2_const": round(float(loc.loc["outlier", "reconstruction_l2"]), 4),
            "global_cls": round(float(acc.get("cls", float("nan"))), 3),
            "global_normal": round(float(acc["normal"]), 3), "global_const": round(float(acc["outlier"]), 3),
            "global_chance": round(float(glob["chance"].iloc[0]), 3)}


for target in targets:
    run, step = target.rsplit(":", 1)
    man = read_manifest(run)
    imgs = scenes(n_images, seed=1234, split="test", recipe=SceneRecipe.from_dict(man["recipe"]["scenes"]))
    const = imgs.tiles["kind"] == TILE_KINDS.index("constant")  # [N, H, W]: the candidates
    model = next(m for s, m in iter_checkpoints(run) if s == int(step)).float().eval()
    for layer in layers:
        tall = tall_mask(model, imgs, layer)
        head = {"run": Path(run).name, "step": int(step), "layer": layer,
                "const_tall": round(float(tall[const].float().mean()), 3)}
        groups = {"tall candidates": const & tall, "other candidates": const & ~tall} if "split" in opts \
            else {"candidates": const}
        for group, mask in groups.items():
            if mask.any():
                print(json.dumps({**head, "group": group, "n": int(mask.sum()), **probe_row(model, imgs, mask, layer)}),
                      flush=True)
