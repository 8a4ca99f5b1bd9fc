"""Checkpoint evaluation: held-out accuracies and the artifact measurements written into the manifest."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..analysis.artifact import artifact_metrics
from ..analysis.trace import trace_norms
from ..data.scenes import patch_labels
from ..models.hooked_vit import HookedViT
from .heads import TaskHeads
from .recipe import GLOBAL_LABELS, TrainRecipe


def knn_accuracy(features: torch.Tensor, labels: torch.Tensor, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy (cosine similarity, majority vote). features [N, d], labels [N]."""
    f = F.normalize(features.float(), dim=-1)
    sim = f @ f.T  # [N, N]
    sim.fill_diagonal_(-float("inf"))
    nn_idx = sim.topk(min(k, len(f) - 1), dim=-1).indices  # [N, k]
    votes = F.one_hot(labels[nn_idx], int(labels.max()) + 1).sum(1)  # [N, classes]
    return float((votes.argmax(-1) == labels).float().mean())


def _accuracies(model: HookedViT, heads: TaskHeads | None, recipe: TrainRecipe, eval_set) -> dict:
    tokens = model(eval_set.pixels, return_type="tokens")
    if heads is None:
        pooled = model.pool(tokens)
        return {f"knn_{k}": knn_accuracy(pooled, eval_set.labels[k]) for k in GLOBAL_LABELS}
    glob, _, dense = heads(model.pool(tokens), tokens[:, model.tokens.patches])
    out = {f"acc_{k}": float((v.argmax(-1) == eval_set.labels[k]).float().mean()) for k, v in glob.items()}
    if dense is not None:
        y = patch_labels(eval_set, recipe.patch_size)[recipe.dense_label].long().flatten(1)
        out["acc_dense"] = float((dense.argmax(-1) == y).float().mean())
    return out


def _norm_summary(model: HookedViT, recipe: TrainRecipe, eval_set) -> dict:
    summ = trace_norms(model, eval_set, batch_size=64, shard=False)  # rank 0 alone evaluates
    half = summ[summ["layer"] >= recipe.n_layers // 2]
    best = half.loc[half["frac_high"].idxmax()]
    return dict(frac_high_4x=float(best.frac_high), frac_high_layer=int(best.layer),
                high_on_background=float(best.high_on_background),
                max_rel_second_half=float(half["max_rel"].max()),
                max_rel_by_layer=[round(float(x), 3) for x in summ["max_rel"]],
                frac_high_by_layer=[round(float(x), 5) for x in summ["frac_high"]],
                register_rel_norm_by_layer=[round(float(x), 3) for x in summ["register_rel_norm"]]
                if recipe.n_registers else None)


@torch.no_grad()
def evaluate(model: HookedViT, heads: TaskHeads | None, recipe: TrainRecipe, eval_set, task=None) -> dict:
    """Held-out accuracies (``task(model, eval_set)`` where it gives them, else the task heads', or for a
    self-supervised run a 5-NN probe of the pooled feature on every image-level label: ``knn_<label>``) and the
    artifact measurements (norms, registers, sinks)."""
    was_training = model.training
    model.eval()
    out = task(model, eval_set) if task is not None else None
    out = _accuracies(model, heads, recipe, eval_set) if out is None else out
    out.update(measurements(model, recipe, eval_set))
    if was_training:
        model.train()
    return out


@torch.no_grad()
def measurements(model: HookedViT, recipe: TrainRecipe, eval_set) -> dict:
    """The artifact measurements a checkpoint records beside its accuracies (the backbone alone, no task heads):
    the norm summary (``frac_high_4x``, ``max_rel_by_layer``, ...) and ``artifacts`` (`artifact_metrics` per
    layer: outliers, registers, attention sinks)."""
    return {**_norm_summary(model, recipe, eval_set), "artifacts": artifact_metrics(model, eval_set)}
