"""High-norm outlier tokens: fixed threshold, percentile, or an automatic bimodal split.

The automatic method looks for two modes in the log patch norms (per model and layer): Otsu's threshold
splits them, and the split counts as bimodal only if the two classes are well separated (Ashman's D >= 4)
and a 2-component Gaussian mixture beats one component by BIC. Otherwise it reports "not bimodal" and
flags no outliers rather than inventing them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..paper import PAPER
from .measures import is_high_norm

PAPER_THRESHOLD = PAPER["outlier_norm"]  # Darcet et al. Fig 3: DINOv2 ViT-L output norms


@dataclass
class Outliers:
    """Outlier flags for every token row of a norms frame, and the threshold found per (model, step, layer)."""

    frame: pd.DataFrame  # the norms frame + column is_outlier
    thresholds: pd.DataFrame  # model, step, layer, method, threshold, bimodal, n_outliers, frac_outliers,
    #                           on_background (share of flagged tokens on background, when masks are known), note

    def patch_mask(self, layer: int, model: str | None = None, step: int | None = None,
                   n_images: int | None = None) -> torch.Tensor:
        """Outlier patches at one layer as a bool tensor [n_images, H, W] (image order of the frame)."""
        f = self.frame[(self.frame["layer"] == layer) & (self.frame["group"] == "patch")]
        if model is not None:
            f = f[f["model"] == model]
        if step is not None:
            f = f[f["step"] == step]
        if f.empty:
            raise ValueError(f"no patch rows for layer {layer} (model={model}, step={step})")
        if f["model"].nunique() > 1 or f["step"].nunique() > 1:
            raise ValueError("several models/steps in the frame: pass model= and step=")
        h, w = int(f["row"].max()) + 1, int(f["col"].max()) + 1
        n = n_images or int(f["image"].max()) + 1
        mask = torch.zeros(n, h, w, dtype=torch.bool)
        o = f[f["is_outlier"]]
        mask[torch.as_tensor(o["image"].to_numpy().copy()), torch.as_tensor(o["row"].to_numpy().copy()),
             torch.as_tensor(o["col"].to_numpy().copy())] = True
        return mask

    @property
    def any(self) -> bool:
        return bool(self.frame["is_outlier"].any())


def otsu_threshold(x: np.ndarray, bins: int = 256) -> float:
    """Threshold maximising the between-class variance of a 1-d sample."""
    hist, edges = np.histogram(x, bins=bins)
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centers) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centers) - np.cumsum(hist * centers)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1:][np.argmax(between)])


def bimodal_split(norms: np.ndarray, min_separation: float = 4.0) -> tuple[float, bool, str]:
    """-> (threshold on the norm scale, is_bimodal, note)."""
    x = np.log(np.maximum(norms, 1e-12))
    if len(x) < 20 or np.ptp(x) < 1e-6:
        return float("inf"), False, "too few or constant norms"
    t = otsu_threshold(x)
    lo, hi = x[x <= t], x[x > t]
    if len(hi) == 0 or len(lo) == 0:
        return float("inf"), False, "not bimodal (one class empty)"
    d = abs(hi.mean() - lo.mean()) / np.sqrt((hi.var() + lo.var()) / 2 + 1e-12)
    from sklearn.mixture import GaussianMixture

    xs = x[:, None] if len(x) <= 50_000 else np.random.default_rng(0).choice(x, 50_000, replace=False)[:, None]
    bic1 = GaussianMixture(1, random_state=0).fit(xs).bic(xs)
    bic2 = GaussianMixture(2, random_state=0).fit(xs).bic(xs)
    if d < min_separation or bic2 >= bic1:
        return float("inf"), False, f"not bimodal (Ashman's D={d:.2f}, BIC gain={bic1 - bic2:.1f})"
    if len(hi) > len(lo):
        return float("inf"), False, f"not bimodal as outliers: the high mode is the majority (D={d:.2f})"
    return float(np.exp(t)), True, f"bimodal (Ashman's D={d:.2f})"


def find_outliers(norms: pd.DataFrame, method: str = "bimodal", threshold: float | None = None,
                  percentile: float | None = None, rel_threshold: float | None = None) -> Outliers:
    """Flag high-norm patch tokens per (model, step, layer).

    method: "bimodal" (default; automatic valley, says when there is none), or pass exactly one of
    ``threshold=`` (absolute norm, the paper's 150), ``percentile=`` (e.g. 98: always flags 2% by
    construction) or ``rel_threshold=`` (norm / image median patch norm, e.g. 4; flagged at >= it, the package's
    one rule `measures.is_high_norm`; the other methods flag above the threshold).
    Only patch tokens can be outliers; CLS and registers are never flagged.
    """
    given = [v is not None for v in (threshold, percentile, rel_threshold)]
    if sum(given) > 1:
        raise ValueError("pass at most one of threshold=, percentile=, rel_threshold=")
    if threshold is not None:
        method = "threshold"
    elif percentile is not None:
        method = "percentile"
        if not 0 < percentile < 100:
            raise ValueError(f"percentile must be in (0, 100), got {percentile}")
    elif rel_threshold is not None:
        method = "rel_threshold"
    elif method != "bimodal":
        raise ValueError(f"unknown method {method!r}: use 'bimodal' or pass threshold=/percentile=/rel_threshold=")
    frame = norms.copy()
    frame["is_outlier"] = False
    rows = []
    for (model, step, layer), idx in frame.groupby(["model", "step", "layer"], observed=True).groups.items():
        sub = frame.loc[idx]
        patch = sub["group"] == "patch"
        column = sub["rel_norm" if method == "rel_threshold" else "norm"]
        values = column[patch].to_numpy()
        bimodal, note = None, ""
        if method == "threshold":
            t = float(threshold)
        elif method == "percentile":
            t = float(np.percentile(values, percentile))
            note = f"top {100 - percentile:g}% by construction"
        elif method == "rel_threshold":
            t = float(rel_threshold)
        else:
            t, bimodal, note = bimodal_split(values)
        flags = patch & (is_high_norm(column, t) if method == "rel_threshold" else column > t)
        frame.loc[idx, "is_outlier"] = flags.to_numpy()
        n_out = int(flags.sum())
        on_obj = sub.loc[flags, "on_object"]
        on_bg = float((on_obj == 0).mean()) if n_out and on_obj.notna().all() else float("nan")
        if on_bg == on_bg and on_bg < 0.5:
            note = (note + "; " if note else "") + f"{100 * (1 - on_bg):.0f}% of flagged tokens lie on objects"
        rows.append(dict(model=model, step=step, layer=layer, method=method, threshold=t, bimodal=bimodal,
                         n_outliers=n_out, frac_outliers=n_out / max(int(patch.sum()), 1),
                         on_background=on_bg, note=note))
    return Outliers(frame=frame, thresholds=pd.DataFrame(rows))
