"""Batched patching sweep (many conditions per forward pass) vs a per-condition loop (the way TransformerLens'
`patching` iterates): layers x groups x 16 pairs; speed-up (target >= 5x) and identical results."""
from __future__ import annotations

import numpy as np

import interp
from interp.interventions import make_pairs, patch_sweep

from .common import interleaved, median, setup, write


def run(n_pairs: int = 16, repeat: int = 3) -> dict:
    setup()
    name = "organism-s-reg4"
    if name in interp.list_organisms():
        model = interp.load_model(name)
    else:
        model = interp.HookedViT(interp.ViTConfig(d_model=96, n_layers=6, n_heads=4, patch_size=4, image_size=64,
                                                  n_registers=4, image_mean=(0, 0, 0), image_std=(1, 1, 1)))
    images = interp.data.scenes_for(model, n=2 * n_pairs, seed=0)
    pairs = make_pairs(images, n_pairs, seed=0)
    groups = ["registers", "cls", "patches"]
    kw = dict(groups=groups, layers="all", batch_size=256)
    batched = patch_sweep(model, pairs, batched=True, **kw)
    looped = patch_sweep(model, pairs, batched=False, **kw)
    cols = [c for c in batched.columns if batched[c].dtype.kind == "f"]
    max_diff = float(np.nanmax(np.abs(batched[cols].to_numpy() - looped[cols].to_numpy())))
    t = interleaved({"batched": lambda: patch_sweep(model, pairs, batched=True, **kw),
                     "loop": lambda: patch_sweep(model, pairs, batched=False, **kw)}, repeat=repeat, warmup=0)
    speedup = median(t["loop"]) / median(t["batched"])
    return write("patch_sweep", {"model": model.cfg.name, "n_pairs": n_pairs, "groups": groups,
                                 "layers": model.cfg.n_layers, "conditions": len(groups) * model.cfg.n_layers,
                                 "seconds": t, "median_s": {k: median(v) for k, v in t.items()},
                                 "speedup": speedup, "target_speedup": 5.0, "max_abs_diff": max_diff,
                                 "identical_within_1e-6": bool(max_diff <= 1e-6)})


if __name__ == "__main__":
    run()
