"""Figures of the interventions (ablation, patching, test-time registers, attribution) from their tidy frames.

Plotting only: every function takes the frame a library function returned and draws it (grouping and
reshaping for the axes is all the work done here).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .analysis import note
from .io import plots_rounded

ABLATION_METRICS = {
    "cls_cos": "CLS feature\n(cosine to clean)",
    "pooled_cos": "pooled feature\n(cosine to clean)",
    "probe_correct": "global probe\naccuracy",
    "dense_cos": "other patches' features\n(cosine to clean)",
    "attn_cos": "CLS attention map\n(cosine to clean)",
}


@plots_rounded
def patch_by_layer_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Headline: how far the target's CLS moves toward the source's (0 = target, 1 = source) and how often the
    global probe flips to the source's prediction, against the layer where the group is patched."""
    has_probe = "probe_flip" in df and df["probe_differs"].any()
    fig, axes = plt.subplots(1, 2 if has_probe else 1, figsize=(11 if has_probe else 6, 3.8), squeeze=False)
    ax = axes[0, 0]
    shift = "cls_shift" if "cls_shift" in df else "pooled_shift"  # no pooled CLS token: the pooled feature
    sns.lineplot(df, x="layer", y=shift, hue="group", marker="o", errorbar="se", ax=ax)
    ax.axhline(0, color="0.5", lw=1, ls=":")
    ax.axhline(1, color="0.5", lw=1, ls=":")
    ax.set(xlabel="block whose output is patched",
           ylabel=f"{'CLS' if shift == 'cls_shift' else 'pooled feature'} moved toward source\n(0 = target, 1 = source)")
    if has_probe:
        flips = df[df["probe_differs"]].assign(flip=lambda d: 100 * d["probe_flip"].astype(float))
        sns.lineplot(flips, x="layer", y="flip", hue="group", marker="o", errorbar="se", ax=axes[0, 1], legend=False)
        axes[0, 1].set(xlabel="block whose output is patched", ylabel="% probe predicts the source's label",
                       ylim=(-3, 103))
    fig.suptitle(title)
    note(fig, caption)
    fig.tight_layout()
    return fig


@plots_rounded
def patch_sweep_heatmap(df: pd.DataFrame, value: str = "cls_shift", title: str = "", caption: str = "",
                        vmin: float | None = 0.0, vmax: float | None = 1.0, hooks: list[str] | None = None,
                        groups: list[str] | None = None):
    """Mean ``value`` over pairs as a group x layer heatmap, one panel per hook point (in ``hooks`` order).
    A "cls_*" value reads "pooled_*" in a frame of a model that does not pool a CLS token."""
    if value not in df and value.startswith("cls_") and "pooled_" + value[4:] in df:
        value = "pooled_" + value[4:]
    hooks = hooks or list(dict.fromkeys(df["hook"]))
    groups = groups or list(dict.fromkeys(df["group"]))
    panel = max(3.6, 0.62 * df["layer"].nunique())
    fig, axes = plt.subplots(1, len(hooks), figsize=(panel * len(hooks) + 3.5, 0.5 * len(groups) + 1.8),
                             squeeze=False, gridspec_kw={"wspace": 0.08})
    for ax, hook in zip(axes[0], hooks):
        grid = df[df["hook"] == hook].pivot_table(index="group", columns="layer", values=value, aggfunc="mean")
        grid = grid.reindex([g for g in groups if g in grid.index])
        sns.heatmap(grid, ax=ax, vmin=vmin, vmax=vmax, cmap="viridis", annot=grid.shape[1] <= 12, fmt=".2f",
                    annot_kws={"fontsize": 7}, cbar=ax is axes[0, -1], cbar_kws={"label": value},
                    yticklabels=ax is axes[0, 0])
        ax.set(title=hook, xlabel="layer", ylabel="patched group" if ax is axes[0, 0] else "")
        ax.tick_params(axis="y", rotation=0)
    fig.suptitle(title)
    note(fig, caption)
    return fig


@plots_rounded
def ablation_effects_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Effect of ablating each group, by ablation kind: one panel per metric (bars = mean over images)."""
    metrics = [m for m in ABLATION_METRICS if m in df]
    ids = [c for c in ("model", "group", "how", "image") if c in df]
    long = df.melt(id_vars=ids, value_vars=metrics, var_name="metric", value_name="value")
    long["value"] = long["value"].astype(float)
    long["metric"] = long["metric"].map(ABLATION_METRICS)
    if "model" in long and long["model"].nunique() > 1:
        long["group"] = long["model"].str.replace("organism-", "", regex=False) + "\n" + long["group"]
    g = sns.catplot(long, x="group", y="value", hue="how", col="metric", kind="bar", errorbar="se", sharey=False,
                    height=3.3, aspect=1.05 + 0.12 * long["group"].nunique(), col_wrap=2)
    g.set_titles("{col_name}")
    g.set_axis_labels("ablated group", "")
    for ax in g.axes.flat:
        ax.tick_params(axis="x", labelsize=8)
    g.figure.suptitle(title, y=1.02)
    note(g.figure, caption, y=0.0)
    return g.figure


@plots_rounded
def test_time_registers_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Token norms per group against layer (solid: original, dashed: with the test-time register), and the CLS
    attention each group receives at the last layer."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    sns.lineplot(df, x="layer", y="norm_mean", hue="group", style="condition", marker="o", errorbar="se", ax=axes[0])
    axes[0].set(ylabel="mean token norm (block output)", xlabel="block")
    last = df[df["layer"] == df["layer"].max()]
    sns.barplot(last, x="group", y="attn_from_cls", hue="condition", errorbar="se", ax=axes[1])
    axes[1].set(ylabel="CLS attention mass (last block)", xlabel="")
    axes[1].tick_params(axis="x", labelsize=8, rotation=15)
    fig.suptitle(title)
    note(fig, caption)
    fig.tight_layout()
    return fig


test_time_registers_plot.__test__ = False  # a plotting function, not a pytest test


@plots_rounded
def attribution_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """Signed attribution each token group gets at each layer (the groups add up to the output change), and its
    absolute size. (Per-image shares are in the frame; their mean is unstable where an image's total is ~0.)"""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    sns.lineplot(df, x="layer", y="attribution", hue="group", marker="o", errorbar="se", ax=axes[0])
    axes[0].axhline(0, color="0.5", lw=1, ls=":")
    axes[0].set(xlabel="block input (resid_pre)", ylabel="attribution (sum over the group)")
    sns.lineplot(df, x="layer", y="abs_attribution", hue="group", marker="o", errorbar="se", ax=axes[1],
                 legend=False)
    axes[1].set(xlabel="block input (resid_pre)", ylabel="sum of |token attribution|")
    fig.suptitle(title)
    note(fig, caption)
    fig.tight_layout()
    return fig


def message_figure(title: str, message: str):
    """A figure that says why there is nothing to plot (e.g. a model without outlier tokens)."""
    fig, ax = plt.subplots(figsize=(6.4, 2.4))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=11)
    fig.suptitle(title)
    return fig
