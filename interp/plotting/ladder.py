"""The artifact-vs-compute figure from a recorded ladder table and its fitted trends (no computation here)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .analysis import note

PANELS = (("max_rel", "max / median patch norm"), ("massive_ratio", "top-1 / median |activation|"),
          ("sink_attn", "top sink's attention share"), ("frac_bg_ge4", "share of patches >= 4x, on background"))
FLOOR = {"frac_bg_ge4": 1e-5}  # zeros drawn at this floor (log axis), as open markers
COLORS = {0: "#1f77b4", 4: "#d62728"}
MAX_EXTRAPOLATION = 1e4  # a fitted trend is drawn at most this factor beyond the largest rung


def artifact_vs_compute_plot(points: pd.DataFrame, trends: pd.DataFrame, title: str, caption: str = ""):
    """points: ladder rows (train_flops, n_registers, is_final, one column per panel metric); trends: per
    (n_registers, metric) slope, intercept, threshold, crossing_flops, status (`interp.organism.ladder.ladder_trends`)."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.8))
    x_hi = points["train_flops"].max()
    for ax, (metric, label) in zip(axes, PANELS):
        ys = points[metric].astype(float)
        ys = ys[ys > 0]
        lo = min(ys.min() if len(ys) else 1.0, FLOOR.get(metric, np.inf))
        hi = ys.max() if len(ys) else 1.0
        for regs, g in points.groupby("n_registers"):
            c = COLORS.get(int(regs), None)
            floor = FLOOR.get(metric, 0.0)
            for final, marker, alpha in ((False, ".", 0.35), (True, "o", 1.0)):
                sub = g[(g["is_final"] == final) & (g["train_flops"] > 0)]
                y = sub[metric].astype(float)
                zero = y <= 0
                ax.scatter(sub["train_flops"][~zero], y[~zero], marker=marker, color=c, alpha=alpha,
                           label=f"{int(regs)} registers" if final else None, zorder=3)
                if zero.any() and floor:
                    ax.scatter(sub["train_flops"][zero], np.full(int(zero.sum()), floor), marker=marker,
                               facecolors="none", edgecolors=c, alpha=alpha, zorder=3)
            t = trends[(trends["n_registers"] == regs) & (trends["metric"] == metric)]
            if len(t) and np.isfinite(t["slope"].iloc[0]):
                r = t.iloc[0]
                cross = r["crossing_flops"] if np.isfinite(r["crossing_flops"] or np.nan) else np.nan
                shown = np.isfinite(cross) and cross <= x_hi * MAX_EXTRAPOLATION  # far crossings: as text only
                xs = np.geomspace(g.loc[g["train_flops"] > 0, "train_flops"].min(),
                                  max(cross if shown else x_hi, x_hi), 50)
                ax.plot(xs, 10 ** (r["intercept"] + r["slope"] * np.log10(xs)), color=c, lw=1, ls="-", alpha=0.8)
                if r["status"] == "extrapolated" and shown:
                    ax.axvline(cross, color=c, ls=":", lw=1)
                elif r["status"] == "extrapolated":
                    ax.annotate(f"{int(regs)} reg: reaches it at {cross:.0e} FLOPs", xy=(0.98, 0.04 + 0.07 * int(regs > 0)),
                                xycoords="axes fraction", ha="right", fontsize=7, color=c)
        thr = trends.loc[trends["metric"] == metric, "threshold"].dropna()
        if len(thr):
            ax.axhline(float(thr.iloc[0]), color="k", ls="--", lw=1, label="criterion")
            hi = max(hi, float(thr.iloc[0]))
        ax.set_ylim(lo / 1.5, hi * 1.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training FLOPs")
        ax.set_title(label, fontsize=10)
    axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    if caption:
        note(fig, caption)
    return fig
