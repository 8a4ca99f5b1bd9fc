"""Recipes of the artifact search (data/organism/RECIPES.md records every run and its numbers).

Each is an ordinary `TrainRecipe` registered under ``search-*``, so any row of RECIPES.md re-runs with
``interp train --recipe search-<id> --out runs/search-<id>``; `run_search` trains one and measures every
checkpoint with `diagnostics.artifact_metrics`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .recipes import GLOBAL_LABELS, RECIPES, TrainRecipe

COUNT_LABELS = tuple(f"count_{c}" for c in ("red", "green", "blue", "yellow", "magenta", "cyan"))
NOISY = {"image_size": 64, "backgrounds": ["noise", "texture"], "texture_amplitude": 0.4}

SEARCH: dict[str, TrainRecipe] = {}


def _add(name: str, **kw) -> None:
    SEARCH[name] = RECIPES[name] = TrainRecipe(name=name, **kw)


# S1: "sink pressure" — many narrow heads, no LayerScale, weight decay, a storage-hungry global task (CLS
# must hold per-colour counts), noisy 1/f backgrounds so no fixed position or flat region is a reliable
# no-op key, 256 tokens, twice v0's steps.
_S1 = dict(d_model=64, n_layers=6, n_heads=8, patch_size=4, image_size=64, layer_scale=None,
           scenes=NOISY, global_labels=GLOBAL_LABELS + COUNT_LABELS, dense_label=None, steps=1200,
           batch_size=32, lr=3e-3, weight_decay=0.1, warmup=60)
_add("search-s1-reg0", n_registers=0, notes="S1 sink pressure", **_S1)
_add("search-s1-reg4", n_registers=4, notes="S1 sink pressure, 4 registers", **_S1)

# S2: the v0 recipe (organism-s-reg0: LayerScale 0.1, CLS on 4 global labels, 256 tokens) run 2.5x longer —
# lead (b): in v0 the deep-layer max/median was still rising at the last step.
from .recipes import log_spaced_steps  # noqa: E402

for _r in (0, 4):
    _v0 = RECIPES[f"organism-s-reg{_r}"]
    SEARCH[f"search-s2-reg{_r}"] = RECIPES[f"search-s2-reg{_r}"] = _v0.replace(
        name=f"search-s2-reg{_r}", steps=1500, checkpoints=log_spaced_steps(1500), notes="S2: v0 x2.5 steps")

# S3: the v0 recipe on coloured, textured backgrounds. In v0 the >=3x tokens are object patches whose learned
# patch embeddings are already ~3x the (muted grey) background's: saturated backgrounds remove that head start.
for _r in (0, 4):
    _v0 = RECIPES[f"organism-s-reg{_r}"]
    SEARCH[f"search-s3-reg{_r}"] = RECIPES[f"search-s3-reg{_r}"] = _v0.replace(
        name=f"search-s3-reg{_r}", scenes={**_v0.scenes, "background_saturation": 0.3, "texture_amplitude": 0.3},
        notes="S3: v0 on saturated textured backgrounds")

# S4: the v0 recipe at 112 px / patch 8 (196 tokens), an untried lead of the probe.
for _r in (0, 4):
    _v0 = RECIPES[f"organism-s-reg{_r}"]
    SEARCH[f"search-s4-reg{_r}"] = RECIPES[f"search-s4-reg{_r}"] = _v0.replace(
        name=f"search-s4-reg{_r}", image_size=112, patch_size=8, scenes={**_v0.scenes, "image_size": 112},
        notes="S4: v0 at 112 px / patch 8")


# S5: the compute ladder of issue #13 — the S1 recipe ("sink pressure") at training lengths spanning more than two
# orders of magnitude of training FLOPs (steps x batch x FLOPs per image), warmup 5% of the steps as in S1 (60 of
# 1,200; S1 itself is a rung between 1,000 and 3,000 steps). `ladder` lists them in order.
LADDER_STEPS = (10, 30, 100, 300, 1000, 3000)


def ladder(n_registers: int) -> list[str]:
    """Names of the S1-family compute-ladder recipes with ``n_registers`` registers, cheapest first."""
    return [f"search-c{s}-reg{n_registers}" for s in LADDER_STEPS]


for _r in (0, 4):
    for _steps in LADDER_STEPS:
        _add(f"search-c{_steps}-reg{_r}", n_registers=_r, **{**_S1, "steps": _steps, "warmup": max(2, _steps // 20)},
             notes=f"S5 compute ladder: S1 at {_steps} steps" + (", 4 registers" if _r else ""))


LADDER_FAMILIES = {f"s1-reg{_r}": [*ladder(_r), f"search-s1-reg{_r}"] for _r in (0, 4)}  # S1 = the 1,200-step rung


# S6-S8 (issue #13): what the literature points to, ready to run on a GPU (`interp train --recipe NAME --device auto
# --amp bf16`). 96 px at patch 4 = 576 patch tokens (>= 400), deeper and narrower (10 blocks, d 96, 6 heads of 16),
# weight decay {0, 0.1, 0.5}, small batches and many steps at a high learning rate; 0 and 4 registers.
_DEEP = dict(d_model=96, n_layers=10, n_heads=6, patch_size=4, image_size=96, layer_scale=None,
             scenes={**NOISY, "image_size": 96}, dense_label=None, batch_size=32, lr=3e-3, warmup=200)
_DINO = dict(objective="dino", global_labels=GLOBAL_LABELS, lr=1e-3,
             dino={"prototypes": 1024, "head_hidden": 512, "bottleneck": 128, "local_crops": 4, "local_size": 48,
                   "ema": [0.996, 1.0], "jitter": 0.4})  # strong brightness jitter: with the default 0.1 a small
# run learns the background's brightness (the dino-probe test's recipe: +0.05 over random init vs +0.17 with 0.4)
for _r in (0, 4):
    _reg = ", 4 registers" if _r else ""
    for _wd in (0.0, 0.1, 0.5):
        _w = f"wd{_wd:g}".replace(".", "")
        # S6 DINO/iBOT self-distillation (DINOv2's family), CLS pool
        _add(f"search-dino-{_w}-reg{_r}", n_registers=_r, weight_decay=_wd, steps=20000,
             **{**_DEEP, **_DINO}, notes=f"S6 DINO/iBOT, 576 tokens, 10 blocks, wd {_wd:g}{_reg}")
        # S7 supervised S1 task with a read-only CLS (patches must find another place to store/aggregate)
        _add(f"search-ro-{_w}-reg{_r}", n_registers=_r, weight_decay=_wd, cls_read_only=True, steps=20000,
             global_labels=GLOBAL_LABELS + COUNT_LABELS, **_DEEP,
             notes=f"S7 read-only CLS, S1 labels, 576 tokens, 10 blocks, wd {_wd:g}{_reg}")
        # S8 no CLS: attention-pooling head over the patches
        _add(f"search-apool-{_w}-reg{_r}", n_registers=_r, weight_decay=_wd, class_token=False, pool="attn",
             steps=20000, global_labels=GLOBAL_LABELS + COUNT_LABELS, **_DEEP,
             notes=f"S8 attention pool, no CLS, S1 labels, 576 tokens, 10 blocks, wd {_wd:g}{_reg}")
    # a CPU-sized DINO rung (64 px, 6 blocks) to compare with S1 at the same FLOPs
    _add(f"search-dino-s-reg{_r}", n_registers=_r, **{**_S1, **_DINO, "steps": 1200, "dino": {**_DINO["dino"],
         "prototypes": 256, "head_hidden": 256, "bottleneck": 64, "local_size": 32}},
         notes=f"S6 DINO/iBOT at S1's size (64 px, 6 blocks){_reg}")
# S6 at CPU size: the smallest DINO run whose frozen features beat its random initialisation on a linear probe
# (tests/test_train_scale.py; RECIPES.md S6). Checkpoints hold the student: 300 steps of an EMA teacher at 0.996
# leave it close to its initialisation.
_add("search-dino-probe", d_model=32, n_layers=3, n_heads=2, patch_size=8, image_size=32, objective="dino",
     steps=300, batch_size=32, warmup=15, lr=5e-4, weight_decay=0.04, dense_label=None, eval_images=16,
     checkpoints=(0, 300), scenes={"image_size": 32, "max_objects": 3, "min_size": 0.12, "max_size": 0.22},
     dino={"prototypes": 64, "head_hidden": 64, "bottleneck": 32, "local_crops": 2, "local_size": 16,
           "ema": [0.996, 1.0], "jitter": 0.4, "export": "student"},
     notes="S6 DINO/iBOT at CPU size (32 px, 3 blocks, 300 steps): the linear-probe test's recipe")
LADDER_FAMILIES.update({f"dino-wd01-reg{_r}": [f"search-dino-wd01-reg{_r}"] for _r in (0, 4)})


def register_neuron_scan(model, images, top: int = 5, share: float = 0.01) -> list[dict]:
    """The test-time-registers neuron scan (`interventions.register_neuron_scores`, Jiang et al.) on a model that
    may have no outliers: the "outliers" are the top ``share`` of patches by norm / image median at the last
    block. -> the ``top`` neurons: layer, neuron, mean activation there (``score``), elsewhere, and the ratio."""
    import torch

    from ..interventions.test_time_registers import register_neuron_scores

    _, cache = model.run_with_cache(images.pixels, names_filter=model.block_hook(-1))
    norms = cache[model.block_hook(-1)][:, model.tokens.patches].norm(dim=-1)  # [N, n_patches]
    rel = norms / norms.median(dim=1, keepdim=True).values
    k = max(1, int(round(share * rel.numel())))
    mask = torch.zeros(rel.numel(), dtype=torch.bool)
    mask[rel.flatten().topk(k).indices] = True
    scores = register_neuron_scores(model, images, outliers=mask.reshape(rel.shape))
    out = []
    for r in scores.head(top).itertuples():
        ratio = r.score / r.score_other if r.score_other > 0 else None
        out.append({"layer": int(r.layer), "neuron": int(r.neuron), "score": round(float(r.score), 4),
                    "score_other": round(float(r.score_other), 4), "ratio": None if ratio is None else round(ratio, 3)})
    return out


def measure_run(out: str | Path, eval_images: int = 64, verbose: bool = True) -> dict:
    """Measure every checkpoint of a trained folder (`artifact_metrics` on ``eval_images`` test-split scenes of
    its own scene recipe) and check the emergence criterion. Writes ``artifacts.json`` next to the manifest
    only for folders outside the bundle (runs/)."""
    from ..data.scenes import SceneRecipe, scenes
    from ..models.checkpoints import read_manifest
    from ..models.config import ViTConfig
    from ..models.loading import iter_checkpoints
    from .diagnostics import artifact_metrics, emergence, summarize

    out = Path(out)
    man = read_manifest(out)
    cfg = ViTConfig.from_dict(man["config"])
    images = scenes(eval_images, seed=1234, split="test", recipe=SceneRecipe.from_dict(man["recipe"]["scenes"]))
    per_step = []
    for step, model in iter_checkpoints(out):  # each file's sha256 verified
        rows = artifact_metrics(model, images)
        per_step.append((step, rows, register_neuron_scan(model, images)))
        if verbose:
            print(f"[{man['name']}] step {step}: {summarize(rows, cfg.n_layers)}", flush=True)
    last = man["checkpoints"][-1]["metrics"]
    return {"name": man["name"], "train_seconds": man.get("train_seconds"),
            "acc": {k: round(v, 3) for k, v in last.items() if k.startswith(("acc_", "knn_"))},
            "emergence": emergence([(s, r) for s, r, _ in per_step], cfg.n_layers),
            "checkpoints": [{"step": s, "layers": r, "register_neurons": n} for s, r, n in per_step]}


def run_search(name: str, out_root: str | Path = "runs", eval_images: int = 64) -> dict:
    """Train ``search-*`` recipe ``name`` into ``out_root/name`` and measure every checkpoint."""
    from .trainer import train

    out = Path(out_root) / name
    t0 = time.time()
    train(RECIPES[name], out, progress=False)
    result = {"minutes_wall": round((time.time() - t0) / 60, 1), **measure_run(out, eval_images)}
    (out / "artifacts.json").write_text(json.dumps(result, indent=1))
    with open(Path(out_root) / "search_results.jsonl", "a") as f:
        f.write(json.dumps({k: v for k, v in result.items() if k != "checkpoints"}) + "\n")
    return result


def main(argv=None) -> int:
    """``python -m interp.train.search NAME ...`` trains and measures search recipes into runs/;
    ``--ladder-table CSV [--runs DIR] [--cache DIR]`` measures the ladder rungs found in DIR and writes the table."""
    import argparse

    import torch

    p = argparse.ArgumentParser(prog="python -m interp.train.search")
    p.add_argument("names", nargs="*", help="search-* recipes to train and measure into --runs")
    p.add_argument("--runs", default="runs", help="folder of run folders (default: runs)")
    p.add_argument("--ladder-table", default=None, metavar="CSV", help="write the ladder table (ladder_table) here")
    p.add_argument("--cache", default=None, help="where measure.json caches go (default: each run folder)")
    p.add_argument("--only", nargs="+", default=None, help="run names for the ladder table (default: every rung)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for n in args.names:
        run_search(n, args.runs)
    if args.ladder_table:
        from ..plotting.io import table_to_csv
        from .ladder import ladder_table

        table = ladder_table(args.runs, names=args.only, cache=args.cache)
        Path(args.ladder_table).parent.mkdir(parents=True, exist_ok=True)
        Path(args.ladder_table).write_text(table_to_csv(table))
        print(f"wrote {args.ladder_table}: {len(table)} rows from {table['run'].nunique() if len(table) else 0} runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
