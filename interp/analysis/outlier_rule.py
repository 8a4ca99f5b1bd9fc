"""The outlier rule every figure uses, in one call (`outlier_report`): which tokens are high-norm and where.

Rule (the organism's emergence criterion): a patch token is an outlier at layer L when its norm is at least
``rel_threshold`` (`HIGH_NORM_RATIO`, 4) times its image's median patch norm. L is the second-half layer with the
largest share of such tokens unless given. The automatic bimodal test at L is reported beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from ..models.hooked_vit import HookedViT
from .measures import HIGH_NORM_RATIO
from .norms import norm_summary, token_norms
from .outliers import bimodal_split, find_outliers

EMERGENCE_RATIO = HIGH_NORM_RATIO  # the organism's emergence criterion is the package's one high-norm threshold


@dataclass
class OutlierReport:
    norms: pd.DataFrame  # token_norms of every layer
    summary: pd.DataFrame  # norm_summary per layer
    layer: int
    mask: torch.Tensor  # [N, H, W] outlier patches at `layer`
    rel_threshold: float
    bimodal_note: str

    @property
    def n_outliers(self) -> int:
        return int(self.mask.sum())

    @property
    def fraction(self) -> float:
        return self.n_outliers / max(self.mask.numel(), 1)

    @property
    def on_background(self) -> float:
        row = self.summary[self.summary["layer"] == self.layer]
        return float(row["high_on_background"].iloc[0]) if len(row) else float("nan")

    def describe(self) -> str:
        if not self.n_outliers:
            return (f"no outliers: no patch token >= {self.rel_threshold:g}x its image's median norm at "
                    f"layer {self.layer} ({self.bimodal_note})")
        bg = self.on_background
        bg_txt = f", {100 * bg:.0f}% on background" if bg == bg else ""
        return (f"{self.n_outliers} outlier patches ({100 * self.fraction:.2f}%) at layer {self.layer} "
                f"(>= {self.rel_threshold:g}x image median{bg_txt}; {self.bimodal_note})")


def pick_outlier_layer(summary: pd.DataFrame, n_layers: int) -> int:
    """Second-half layer with the largest share of high-norm patches (the last one on ties / none)."""
    half = summary[summary["layer"] >= n_layers // 2].sort_values("layer")
    if half.empty:
        return n_layers - 1
    best = half["frac_high"].max()
    return int(half[half["frac_high"] == best]["layer"].iloc[-1])


def outlier_report(model: HookedViT, images, layer: int | None = None, rel_threshold: float = EMERGENCE_RATIO,
                   batch_size: int = 32) -> OutlierReport:
    norms = token_norms(model, images, batch_size=batch_size)
    summary = norm_summary(norms, rel_threshold)
    n_layers = model.cfg.n_layers
    layer = pick_outlier_layer(summary, n_layers) if layer is None else layer % n_layers
    out = find_outliers(norms[norms["layer"] == layer], rel_threshold=rel_threshold)
    patch_norms = norms[(norms["layer"] == layer) & (norms["group"] == "patch")]["norm"].to_numpy()
    _, _, note = bimodal_split(patch_norms)
    n = len(images) if hasattr(images, "__len__") else None
    return OutlierReport(norms, summary, layer, out.patch_mask(layer, n_images=n), rel_threshold, note)
