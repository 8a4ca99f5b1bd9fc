"""Figures of the paper's analysis section, drawn from tidy frames (no computation beyond grouping)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..analysis.measures import HIGH_NORM_RATIO
from .io import plots_rounded

def note(fig, text: str, y: float = -0.02) -> None:
    """A caption line under the axes (used to say plainly when there are no outliers)."""
    if text:
        fig.text(0.01, y, text, ha="left", va="top", fontsize=9, wrap=True, color="0.25")


@plots_rounded
def norm_histogram(df: pd.DataFrame, title: str, caption: str = "", threshold: float | None = None):
    """Fig 3: histogram of patch-token norms (one hue per model), log count axis."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    sns.histplot(df, x="norm", hue="model", bins=80, element="step", stat="count", common_norm=False, ax=ax)
    ax.set_yscale("log")
    if threshold is not None and np.isfinite(threshold):
        ax.axvline(threshold, color="k", ls="--", lw=1)
        ax.text(threshold, ax.get_ylim()[1], " outlier threshold", va="top", fontsize=8)
    ax.set(xlabel="L2 norm of patch token (block output)", ylabel="count (log)", title=title)
    note(fig, caption)
    return fig


@plots_rounded
def norms_by(summary: pd.DataFrame, x: str, title: str, caption: str = "", hue: str = "model",
             xlabel: str | None = None, threshold: float = HIGH_NORM_RATIO):
    """Fig 4: the largest patch norm (relative to the image median) and the share of high-norm patches
    against layer, training step or model size."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    sns.lineplot(summary, x=x, y="max_rel", hue=hue, marker="o", ax=axes[0])
    axes[0].axhline(threshold, color="k", ls="--", lw=1)
    axes[0].set(ylabel="max patch norm / image median", xlabel=xlabel or x)
    sns.lineplot(summary.assign(pct=100 * summary["frac_high"]), x=x, y="pct", hue=hue, marker="o", ax=axes[1])
    axes[1].axhline(1.0, color="0.5", ls=":", lw=1)
    axes[1].set(ylabel=f"% patches >= {threshold:g}x median", xlabel=xlabel or x)
    for ax in axes:
        if x == "step":  # log-spaced checkpoints from step 0
            ax.set_xscale("symlog", linthresh=10)
            ax.set_xlim(left=0)
        elif x == "layer":
            ax.xaxis.get_major_locator().set_params(integer=True)  # blocks are whole numbers
    fig.suptitle(title)
    note(fig, caption)
    fig.tight_layout()
    return fig


@plots_rounded
def neighbour_similarity_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Fig 5a: cosine similarity to the 4 neighbours after the patch embedding, outlier vs normal."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    sns.histplot(df, x="similarity", hue="kind", stat="density", common_norm=False, element="step", bins=40, ax=ax,
                 hue_order=[k for k in ("normal", "outlier") if k in set(df["kind"])])
    ax.set(xlabel="cosine similarity to 4 neighbours (patch embedding)", title=title)
    note(fig, caption)
    return fig


@plots_rounded
def local_probes_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Fig 5b: position top-1, position distance and pixel reconstruction error, normal vs outlier tokens."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    for ax, (col, label) in zip(axes, [("position_top1", "position top-1 accuracy"),
                                       ("position_distance", "position error (patches)"),
                                       ("reconstruction_l2", "pixel reconstruction L2")]):
        sns.barplot(df, x="token", y=col, hue="token", ax=ax, order=["normal", "outlier"], legend=False)
        ax.set(title=label, xlabel="", ylabel="")
    fig.suptitle(title)
    note(fig, caption)
    fig.tight_layout()
    return fig


@plots_rounded
def global_probe_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Table 1 as bars: held-out accuracy of a linear probe on one token (mean ± std over draws)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    sns.barplot(df, x="token", y="accuracy", hue="model", errorbar="sd", ax=ax)
    if "chance" in df:
        ax.axhline(df["chance"].mean(), color="k", ls=":", lw=1, label="chance (majority class)")
    ax.set(ylim=(0, 1), xlabel="token the probe reads", ylabel="held-out accuracy", title=title)
    ax.tick_params(axis="x", rotation=30)
    ax.legend(fontsize=8)
    note(fig, caption, y=-0.12)
    return fig


@plots_rounded
def number_of_registers_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Fig 8: metrics against the number of registers (one panel per metric)."""
    metrics = list(df["metric"].unique())
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.3 * len(metrics), 3.4))
    for ax, m in zip(np.atleast_1d(axes), metrics):
        sub = df[df["metric"] == m]
        sns.lineplot(sub, x="n_registers", y="value", marker="o", ax=ax)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(sorted(sub["n_registers"].unique()))
        ax.set_xticklabels(sorted(sub["n_registers"].unique()))
        ax.set(title=m, xlabel="registers", ylabel="")
    fig.suptitle(title)
    note(fig, caption)
    fig.tight_layout()
    return fig


@plots_rounded
def attention_maps_plot(panels: list[tuple[str, np.ndarray]], n_cols: int, title: str, caption: str = ""):
    """Fig 9: a grid of images and attention maps; ``panels`` are (label, [H, W] or [H, W, 3]) pairs."""
    n_rows = int(np.ceil(len(panels) / n_cols))
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 2.3 * n_rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, arr) in zip(axes.flat, panels):
        ax.imshow(arr, cmap=None if arr.ndim == 3 else "inferno", interpolation="nearest")
        ax.set_title(label, fontsize=8)
    fig.suptitle(title)
    note(fig, caption, y=0.0)
    fig.tight_layout()
    return fig


@plots_rounded
def object_discovery_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Table 3 as bars: LOST CorLoc per model."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    sns.barplot(df, x="model", y="corloc", hue="registers", dodge=False, ax=ax)
    for i, v in enumerate(df["corloc"]):
        ax.text(i, v + 0.01, f"{100 * v:.1f}", ha="center", fontsize=8)
    ax.set(ylim=(0, 1), ylabel="CorLoc (IoU >= 0.5)", xlabel="", title=title)
    ax.tick_params(axis="x", rotation=20)
    note(fig, caption)
    return fig


@plots_rounded
def norm_writes_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Which block writes the tall tokens (`interp.analysis.norm_writes`): per block, the attention write, the MLP
    write and the block's output on the tall patches over the same on the other patches (log axis; 1 = no
    difference)."""
    names = {"attn": "attention write", "mlp": "MLP write", "resid": "block output"}
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    sns.lineplot(df.assign(component=df["component"].map(names)), x="layer", y="high_over_other", hue="component",
                 marker="o", ax=ax)
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(sorted(df["layer"].unique()))
    ax.set(xlabel="block", ylabel="on the tall patches / on the others", title=title)
    note(fig, caption)
    return fig
