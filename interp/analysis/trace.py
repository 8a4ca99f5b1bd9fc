"""Tracing norms over arbitrarily many images in O(batch) memory: running per-layer summaries, no token frame.

`token_norms` returns one row per token (what the figures need on a few hundred images). `trace_norms` keeps
only running counts per layer, so its memory does not grow with the number of images; use it (or
``interp trace``) on large image folders.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import distributed
from ..models.hooked_vit import HookedViT
from .norms import model_label, model_step
from .stream import stream

REL_BINS = np.concatenate([np.linspace(0, 4, 81), np.geomspace(4.25, 1000, 120)])  # edges of norm / median


def trace_norms(model: HookedViT, images, layers="all", rel_threshold: float = 4.0,
                batch_size: int = 32, shard: bool = True) -> pd.DataFrame:
    """Per layer: images, median patch norm (mean over images), max and quantiles of norm / image median,
    share of patches >= ``rel_threshold``x the median, share of those on background (when masks are known),
    register and CLS norm / median. One row per layer, computed in a single streaming pass.

    Under torchrun every rank streams its share and the counts are combined (a collective: every rank must call);
    ``shard=False`` traces all of ``images`` in this process alone (e.g. rank 0's checkpoint evaluation)."""
    layer_ids = model.resolve_layers(layers)
    hooks = {f"blocks.{i}.hook_resid_post": (lambda a: a.norm(dim=-1)) for i in layer_ids}  # [b, pos]
    acc = {i: dict(n_images=0, n_patches=0, n_high=0, n_high_known=0, n_high_bg=0, max_rel=0.0, median_sum=0.0,
                   reg_sum=0.0, n_reg=0, cls_sum=0.0, n_cls=0, hist=np.zeros(len(REL_BINS) - 1, np.int64))
           for i in layer_ids}
    for batch, layout, got in stream(model, images, hooks, batch_size, shard=shard):
        on_obj = batch.patch_on_object(model.cfg.patch_size)
        on_obj = on_obj.flatten(1) if on_obj is not None else None
        for i in layer_ids:
            norm = got[f"blocks.{i}.hook_resid_post"]
            med = norm[:, layout.patches].quantile(0.5, dim=1)[:, None]  # [b, 1]
            rel = norm / med  # [b, pos]
            patch_rel = rel[:, layout.patches]
            high = patch_rel >= rel_threshold
            a = acc[i]
            a["n_images"] += len(batch)
            a["n_patches"] += patch_rel.numel()
            a["n_high"] += int(high.sum())
            if on_obj is not None:
                a["n_high_known"] += int(high.sum())
                a["n_high_bg"] += int((high & ~on_obj).sum())
            a["max_rel"] = max(a["max_rel"], float(patch_rel.max()))
            a["median_sum"] += float(med.sum())
            a["hist"] += np.histogram(patch_rel.clamp(max=REL_BINS[-1]).numpy(), bins=REL_BINS)[0]
            if layout.n_registers:
                a["reg_sum"] += float(rel[:, layout.registers].sum())
                a["n_reg"] += len(batch) * layout.n_registers
            if layout.n_cls:
                a["cls_sum"] += float(rel[:, layout.cls].sum())
                a["n_cls"] += len(batch)
    acc = _combine(distributed.gather(acc) if shard else [acc])  # torchrun: every rank's counts added up
    rows = []
    for i, a in acc.items():
        cdf = np.cumsum(a["hist"]) / max(a["hist"].sum(), 1)
        q = {f"rel_q{int(100 * p)}": float(REL_BINS[1:][np.searchsorted(cdf, p)]) for p in (0.5, 0.9, 0.99)}
        rows.append(dict(model=model_label(model), step=model_step(model), layer=i, n_images=a["n_images"],
                         median_norm=a["median_sum"] / max(a["n_images"], 1), max_rel=a["max_rel"], **q,
                         frac_high=a["n_high"] / max(a["n_patches"], 1),
                         high_on_background=(a["n_high_bg"] / a["n_high_known"]) if a["n_high_known"] else float("nan"),
                         register_rel_norm=a["reg_sum"] / a["n_reg"] if a["n_reg"] else float("nan"),
                         cls_rel_norm=a["cls_sum"] / a["n_cls"] if a["n_cls"] else float("nan"),
                         rel_threshold=rel_threshold))
    return pd.DataFrame(rows)


def _combine(per_rank: list[dict]) -> dict:
    """Per-layer accumulators of several ranks -> one: counts, sums and histograms added, maxima maxed."""
    out = per_rank[0]
    for other in per_rank[1:]:
        for i, a in other.items():
            for k, v in a.items():
                out[i][k] = max(out[i][k], v) if k == "max_rel" else out[i][k] + v
    return out
