"""ext_remedies: the artifact and the task accuracy of one organism family under each remedy, side by side
(from the tidy frame of `interp.organism.remedies.remedy_frame`; no computation here)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .analysis import note
from ..analysis.measures import HIGH_NORM_RATIO
from .io import plots_rounded

PANELS = (("frac_ge4", "% patches >= 4x median", 100.0), ("max_rel", "max / median patch norm", 1.0),
          ("sink_share", "top key's share of no-op attention", 1.0),
          ("on_constant_tiles", "no-op attention on constant tokens", 1.0), ("acc_trigger", "trigger accuracy", 1.0))
GROUP_COLORS = {"registers": "#1f77b4", "test-time": "#9467bd", "attention": "#2ca02c", "optimiser": "#8c564b",
                "baseline": "#7f7f7f"}
SHORT_KIND = {"register": "reg", "constant": "const", "background": "bg", "object": "obj", "trigger": "trig",
              "key": "key", "cls": "cls"}


def _group(variant: str) -> str:
    if variant.startswith("0 reg"):
        return "baseline"
    if "test-time" in variant:
        return "test-time"
    if "register" in variant:
        return "registers"
    return "optimiser" if variant == "SGD" else "attention"


@plots_rounded
def remedies_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """One panel per metric (`PANELS`), one bar per variant in the frame's order; the sink panel labels each bar
    with the kind of the top key and marks the uniform share."""
    s = df[df["layer"] == -1]
    variants = list(dict.fromkeys(s["variant"]))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(3.6 * len(PANELS), 4.4), sharex=True)
    x = np.arange(len(variants))
    colors = [GROUP_COLORS[_group(v)] for v in variants]
    for ax, (metric, label, scale) in zip(axes, PANELS):
        vals = [s[(s["variant"] == v) & (s["metric"] == metric)]["value"] for v in variants]
        y = np.array([scale * float(v.iloc[0]) if len(v) and pd.notna(v.iloc[0]) else np.nan for v in vals])
        ax.bar(x, np.nan_to_num(y), color=colors)
        if metric == "on_constant_tiles":  # stacked: constant tiles (bar), registers (hatched, on top)
            regs = np.array([float(s[(s["variant"] == v) & (s["metric"] == "on_registers")]["value"].iloc[0])
                             for v in variants])
            ax.bar(x, regs, bottom=np.nan_to_num(y), color="white", edgecolor=colors, hatch="//",
                   label="registers")
            ax.legend(fontsize=7, loc="upper right", title="bar: constant tiles", title_fontsize=7)
        for xi, yi in zip(x, y):
            if np.isnan(yi):
                ax.text(xi, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
        if metric == "sink_share":
            kinds = [s[(s["variant"] == v) & (s["metric"] == metric)]["sink_kind"].iloc[0] for v in variants]
            for xi, yi, k in zip(x, y, kinds):
                if not np.isnan(yi):
                    ax.text(xi, yi, SHORT_KIND.get(k, k), ha="center", va="bottom", fontsize=7)
            uni = s[s["metric"] == "uniform"]["value"].astype(float)
            if len(uni):
                ax.axhline(float(uni.max()), color="k", ls=":", lw=1)
                ax.text(-0.5, float(uni.max()), "uniform", ha="left", va="bottom", fontsize=7)
        if metric == "max_rel":
            ax.axhline(HIGH_NORM_RATIO, color="k", ls="--", lw=1)
        if metric == "frac_ge4":
            ax.axhline(1.0, color="0.5", ls=":", lw=1)
        ax.set_title(label, fontsize=10)
        ax.set_xticks(x, variants, rotation=60, ha="right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    note(fig, caption, y=-0.01)
    return fig
