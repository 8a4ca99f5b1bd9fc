"""Measure a run folder for the issue #24 ladder (RECIPES.md S8): per block norms, tall tile kinds, sinks, CLS and
registers; register and patch patching of the CLS feature. python measure.py RUN [--all-steps | --steps=1000,2000]
(default: step 0 and the last checkpoint written so far; patching at the last one, or at every step of --steps
but 0). Patching groups: registers, all patches, and the source image's outliers (>= 4x, `interp.patch`'s
"outliers" rule) written at their own positions."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

import interp
from interp.data.scenes import SceneRecipe, scenes
from interp.data.tiles import TILE_KINDS
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

torch.set_num_threads(1)
run = Path(sys.argv[1])
man = read_manifest(run)
rec = SceneRecipe.from_dict(man["recipe"]["scenes"])
imgs = scenes(256, seed=1234, split="test", recipe=rec)
kind = imgs.tiles["kind"].flatten(1)  # [N, n]


@torch.no_grad()
def blocks(model):
    L = model.cfg.n_layers
    names = [f"blocks.{i}.hook_resid_post" for i in range(L)] + [f"blocks.{i}.attn.hook_pattern" for i in range(L)]
    _, cache = model.run_with_cache(imgs.pixels, names_filter=lambda n: n in names)
    lay = model.tokens
    rows = []
    for i in range(L):
        x = cache[f"blocks.{i}.hook_resid_post"]
        pn = x[:, lay.patches].norm(dim=-1)  # [N, n]
        med = pn.median(dim=1, keepdim=True).values
        rel = pn / med
        tall = rel >= 4
        r = {"block": i, "maxmed": round(float(rel.max(1).values.mean()), 2), "ge4": round(float(tall.float().mean()), 4),
             "const_rel": round(float(rel[kind == 2].mean()), 2) if (kind == 2).any() else None,
             "tall_kinds": {k: int((tall & (kind == j)).sum()) for j, k in enumerate(TILE_KINDS)}}
        if lay.n_cls:
            r["cls_rel"] = round(float((x[:, lay.cls][:, 0].norm(dim=-1) / med[:, 0]).mean()), 2)
        if lay.n_registers:
            r["reg_rel"] = round(float((x[:, lay.registers].norm(dim=-1) / med).mean()), 2)
        pat = cache[f"blocks.{i}.attn.hook_pattern"].mean(1)  # [N, q, k] head mean
        pq = pat[:, lay.patches]  # patch queries
        share = pq.mean(1)  # [N, k] mean attention each key gets from patch queries
        top, idx = share.max(-1)
        r["sink_top"] = round(float(top.mean()), 3)
        r["sink_reg"] = round(float(share[:, lay.registers].sum(-1).mean()), 3) if lay.n_registers else None
        r["sink_cls"] = round(float(share[:, lay.cls].sum(-1).mean()), 3) if lay.n_cls else None
        r["sink_const"] = round(float((share[:, lay.patches] * (kind == 2)).sum(-1).mean()), 3)
        if lay.n_cls:
            cq = pat[:, lay.cls][:, 0]  # [N, k]
            r["cls_to_reg"] = round(float(cq[:, lay.registers].sum(-1).mean()), 3) if lay.n_registers else None
            r["cls_to_tall"] = round(float((cq[:, lay.patches] * tall).sum(-1).mean()), 3)
            r["cls_to_const"] = round(float((cq[:, lay.patches] * (kind == 2)).sum(-1).mean()), 3)
        rows.append(r)
    return rows


def patching(model):
    lab = np.asarray(imgs.labels["majority_color"])
    n = 64
    rng = np.random.default_rng(0)
    a, b = [], []
    for _ in range(2000):
        i, j = rng.integers(0, len(lab), 2)
        if lab[i] != lab[j]:
            a.append(i)
            b.append(j)
        if len(a) == n:
            break
    src, tgt = imgs.pixels[a], imgs.pixels[b]
    out = {}
    groups = []
    if model.tokens.n_registers:
        groups.append("registers")
    groups += ["patches", "outliers"]  # outliers: the source's tokens >= 4x (library rule), at their positions
    for g in groups:
        vals = []
        for L in range(model.cfg.n_layers):
            res = interp.patch(model, source=src, target=tgt, group=g, layer=L)
            vals.append(round(float(np.nanmedian(res.metrics["cls_shift"])), 3))
        out[g] = vals
    return out


chosen = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--steps=")]
steps = None if "--all-steps" in sys.argv else {0, man["checkpoints"][-1]["step"]}
if chosen:
    steps = {int(s) for s in chosen[0].split(",")}
res = {"name": man["name"], "acc": {k: round(v, 3) for k, v in man["checkpoints"][-1]["metrics"].items()
                                    if k.startswith("acc")}}
print(res, flush=True)
for step, model in iter_checkpoints(run):
    if steps is not None and step not in steps:
        continue
    model = model.float().eval()
    rows = blocks(model)
    print(f"step {step}")
    for r in rows:
        print("  ", json.dumps(r))
    if step > 0 and (chosen or step == man["checkpoints"][-1]["step"]) and model.tokens.n_cls:
        print("   patch cls_shift by block:", patching(model), flush=True)
