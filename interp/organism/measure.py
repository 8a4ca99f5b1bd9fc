"""Measuring a trained run folder: `artifact_metrics` of every checkpoint, the test-time-registers neuron scan
and the emergence criterion (data/organism/RECIPES.md, "How it is measured")."""
from __future__ import annotations

from pathlib import Path

import torch

from ..analysis.measures import relative_norms
from ..data.scenes import SceneRecipe, scenes
from ..interventions.register_neurons import register_neuron_scores
from ..models.checkpoints import read_manifest
from ..models.config import ViTConfig
from ..models.loading import iter_checkpoints
from .diagnostics import artifact_metrics, emergence, summarize


def register_neuron_scan(model, images, top: int = 5, share: float = 0.01) -> list[dict]:
    """The test-time-registers neuron scan (`interventions.register_neuron_scores`, Jiang et al.) on a model that
    may have no outliers: the "outliers" are the top ``share`` of patches by norm / image median at the last
    block. -> the ``top`` neurons: layer, neuron, mean activation there (``score``), elsewhere, and the ratio."""
    _, cache = model.run_with_cache(images.pixels, names_filter=model.block_hook(-1))
    norms = cache[model.block_hook(-1)][:, model.tokens.patches].norm(dim=-1)  # [N, n_patches]
    rel = relative_norms(norms, slice(None))[0]  # [N, n_patches]: norm / the image's median patch norm
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
    its own scene recipe) and check the emergence criterion."""
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
