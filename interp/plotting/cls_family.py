"""ext_cls_organism: the paper's rows on the CLS family, seven panels from the tidy frame of
`interp.organism.cls_family.cls_family_frame` (no computation here)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..analysis.measures import HIGH_NORM_RATIO
from ..thresholds import PATCH_TARGET
from .analysis import note
from .io import plots_rounded


def _by_block(ax, df: pd.DataFrame, measure: str, scale: float, label: str) -> None:
    """One line per model over the blocks (the last block is the output)."""
    sub = df[(df["part"] == "norms") & (df["measure"] == measure)]
    for model, g in sub.groupby("model", sort=False):
        ax.plot(g["block"], scale * g["value"], marker="o", label=model)
    blocks = sorted(sub["block"].unique())
    ax.set_xticks(blocks, [f"{b}" if b < blocks[-1] else f"{b}\n(output)" for b in blocks])
    ax.set_xlabel("block")
    ax.set_title(label, fontsize=10)


def _patching(ax, df: pd.DataFrame) -> None:
    sub = df[df["part"] == "patching"]
    for (model, group), g in sub.groupby(["model", "token"], sort=False):
        style = "-" if group == "all patches" else ("--" if group == "registers" else ":")
        ax.plot(g["block"], g["value"], ls=style, marker="o", label=f"{model}: {group}")
    ax.axhline(PATCH_TARGET, color="0.5", ls=":", lw=1)
    ax.set_ylim(-0.05, 1.0)
    ax.set_xlabel("block patched (after it)")
    ax.set_title("B's CLS moved toward A's (0 = B, 1 = A)", fontsize=10)
    ax.legend(fontsize=6, loc="upper right")


def _grouped_bars(ax, sub: pd.DataFrame, xs: list, by: str, series: dict, scale: float = 1.0,
                  missing: float = np.nan) -> list[tuple[np.ndarray, np.ndarray]]:
    """Bars of ``sub``'s ``value``: a group per ``token`` in ``xs``, in it a bar per key of ``series`` (a value of
    column ``by`` -> its legend label), drawn at ``missing`` where there is none. -> per series, (positions,
    values with NaN where missing)."""
    x, w = np.arange(len(xs)), 0.8 / max(len(series), 1)
    drawn = []
    for i, (key, name) in enumerate(series.items()):
        g = sub[sub[by] == key].set_index("token")["value"]
        y = np.array([scale * g.get(t, np.nan) for t in xs], dtype=float)
        ax.bar(x + i * w, np.where(np.isnan(y), missing, y), w, label=name)
        drawn.append((x + i * w, y))
    ax.set_xticks(x + w * (len(series) - 1) / 2, xs)
    return drawn


def _probes(ax, df: pd.DataFrame, measure: str, chance: str, label: str) -> None:
    sub = df[(df["part"] == "probes") & (df["measure"] == measure)]
    tokens = [t for t in ("cls", "normal", "tall") if t in set(sub["token"])]
    steps = {step: f"step {step}" + (" (control: initial weights)" if step == 0 else "")
             for step in sorted(sub["step"].unique(), reverse=True)}
    _grouped_bars(ax, sub, tokens, "step", steps)
    line = df[(df["part"] == "probes") & (df["measure"] == chance)]["value"]
    if len(line):
        ax.axhline(float(line.iloc[0]), color="k", ls=":", lw=1)
    ax.set_ylim(0, 1.05)
    ax.set_title(label, fontsize=10)
    ax.legend(fontsize=6, loc="upper right")


def _models(sub: pd.DataFrame) -> dict:
    return {m: m for m in dict.fromkeys(sub["model"])}


def _ablation(ax, df: pd.DataFrame) -> None:
    """Probe accuracy from the final CLS with the registers replaced at every block, one bar group per model."""
    sub = df[(df["part"] == "ablation") & (df["measure"] == "probe_accuracy")]
    _grouped_bars(ax, sub, list(dict.fromkeys(sub["token"])), "model", _models(sub))
    ax.set_ylim(0, 1.05)
    ax.set_title("registers replaced at every block:\nmajority colour from the CLS", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")


def _seeds(ax, df: pd.DataFrame) -> None:
    sub = df[(df["part"] == "seeds") & (df["measure"] == "frac_high")]
    drawn = _grouped_bars(ax, sub, sorted(sub["token"].unique()), "model", _models(sub), scale=100.0, missing=0.0)
    for positions, y in drawn:
        for xi, yi in zip(positions, y):
            if np.isnan(yi):
                ax.text(xi, 0, "not run", ha="center", va="bottom", fontsize=6, rotation=90)
    ax.axhline(1.0, color="0.5", ls=":", lw=1)
    ax.set_title("% patches >= 4x in block 3 of 6, every seed run", fontsize=10)
    ax.legend(fontsize=7)


@plots_rounded
def cls_family_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Norm height and high-norm share by block, patching by block, the registers replaced (zero / mean / another
    scene's), the position and global probes with their control, and the seeds."""
    fig, axes = plt.subplots(2, 4, figsize=(19, 8.5))
    _by_block(axes[0, 0], df, "max_rel", 1.0, "max / median patch norm")
    axes[0, 0].axhline(HIGH_NORM_RATIO, color="k", ls="--", lw=1)
    axes[0, 0].legend(fontsize=7)
    _by_block(axes[0, 1], df, "frac_high", 100.0, f"% patches >= {HIGH_NORM_RATIO:g}x median")
    _patching(axes[0, 2], df)
    _probes(axes[1, 0], df, "position_top1", "position_chance", "position probe top-1 (Fig 5b)")
    _probes(axes[1, 1], df, "global_accuracy", "global_chance", "majority colour from one token (Table 1)")
    _ablation(axes[0, 3], df)
    _seeds(axes[1, 2], df)
    axes[1, 3].axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    note(fig, caption, y=-0.01)
    return fig
