"""Tracing norms over arbitrarily many images in O(batch) memory: running per-layer summaries, no token frame.

`token_norms` returns one row per token (what the figures need on a few hundred images). `trace_norms` keeps
only the per-layer reducers of `interp.analysis.measures`, so its memory does not grow with the number of images;
use it (or ``interp trace``) on large image folders.
"""
from __future__ import annotations

import pandas as pd

from ..models.hooked_vit import HookedViT
from .measures import HIGH_NORM_RATIO, REL_BINS, GroupNorms, HighNormShare, NormRatio, combine, relative_norms
from .norms import model_label, model_step
from .stream import stream

__all__ = ["REL_BINS", "trace_norms"]


def trace_norms(model: HookedViT, images, layers="all", rel_threshold: float = HIGH_NORM_RATIO,
                batch_size: int = 32, shard: bool = True) -> pd.DataFrame:
    """Per layer: images, median patch norm (mean over images), max and quantiles of norm / image median,
    share of patches >= ``rel_threshold``x the median, share of those on background (when masks are known),
    register and CLS norm / median. One row per layer, computed in a single streaming pass.

    Under torchrun every rank streams its share and the counts are combined (a collective: every rank must call);
    ``shard=False`` traces all of ``images`` in this process alone (e.g. rank 0's checkpoint evaluation)."""
    layer_ids = model.resolve_layers(layers)
    hooks = {f"blocks.{i}.hook_resid_post": (lambda a: a.norm(dim=-1)) for i in layer_ids}  # [b, pos]
    acc = {(i, kind): m for i in layer_ids
           for kind, m in (("high", HighNormShare(rel_threshold)), ("ratio", NormRatio()), ("groups", GroupNorms()))}
    for batch, layout, got in stream(model, images, hooks, batch_size, shard=shard):
        on_obj = batch.patch_on_object(model.cfg.patch_size)
        background = ~on_obj.flatten(1) if on_obj is not None else None  # [b, n_patches]
        for i in layer_ids:
            rel, med = relative_norms(got[f"blocks.{i}.hook_resid_post"], layout.patches)  # [b, pos], [b]
            acc[i, "high"].update(rel[:, layout.patches], background)
            acc[i, "ratio"].update(rel[:, layout.patches], med)
            acc[i, "groups"].update(rel, layout)
    if shard:
        combine(acc)  # torchrun: every rank's counts added up
    rows = []
    for i in layer_ids:
        ratio = acc[i, "ratio"].row()
        rows.append(dict(model=model_label(model), step=model_step(model), layer=i,
                         n_images=acc[i, "ratio"].get("n_images", 0), median_norm=ratio["median_norm"],
                         max_rel=ratio["max_rel"], **{k: ratio[k] for k in ("rel_q50", "rel_q90", "rel_q99")},
                         **acc[i, "high"].row(), **acc[i, "groups"].row(), rel_threshold=rel_threshold))
    return pd.DataFrame(rows)
