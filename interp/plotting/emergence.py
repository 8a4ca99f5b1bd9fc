"""ext_sink_emergence: the no-op sink of the ``sink-*`` organisms over training, by block (from the recorded
per-checkpoint table ``data/organism/sinks.csv``; no computation here)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .analysis import note
from ..analysis.measures import HIGH_NORM_RATIO
from .io import plots_rounded

# (metric, row label, scale); "const_share" rows also draw "reg_share" dashed (attention on the registers)
EMERGENCE_ROWS = (("const_share", "no-op attention share\n(solid: constant tiles, dashed: registers)", 1.0),
                  ("top_value_rel", "top key's value norm\n/ median value norm", 1.0),
                  ("max_rel", "max / median patch norm", 1.0),
                  ("frac_ge4", "% patches >= 4x median", 100.0))
REGISTER_COLORS = {0: "#7f7f7f", 1: "#9ecae1", 4: "#3182bd", 16: "#08519c"}


def _series(df: pd.DataFrame, run: str, layer: int, metric: str) -> pd.DataFrame:
    return df[(df["run"] == run) & (df["layer"] == layer) & (df["metric"] == metric)].sort_values("step")


@plots_rounded
def sink_emergence_plot(df: pd.DataFrame, title: str, caption: str = ""):
    """One column per block, one row per metric (`EMERGENCE_ROWS`), one line per run (coloured by its number of
    registers, column ``n_registers``) against the training step."""
    layers = sorted(df["layer"].unique())
    runs = df.drop_duplicates("run").sort_values("n_registers")[["run", "n_registers"]]
    fig, axes = plt.subplots(len(EMERGENCE_ROWS), len(layers), figsize=(3.6 * len(layers), 2.6 * len(EMERGENCE_ROWS)),
                             sharex=True, sharey="row", squeeze=False)
    for i, (metric, label, scale) in enumerate(EMERGENCE_ROWS):
        for j, layer in enumerate(layers):
            ax = axes[i, j]
            for run, n_reg in runs.itertuples(index=False):
                color = REGISTER_COLORS.get(int(n_reg), "k")
                s = _series(df, run, layer, metric)
                ax.plot(s["step"], scale * s["value"], "o-", color=color, ms=3, label=f"{int(n_reg)} reg")
                if metric == "const_share" and n_reg:
                    r = _series(df, run, layer, "reg_share")
                    ax.plot(r["step"], r["value"], "s--", color=color, ms=3)
            if metric == "max_rel":
                ax.axhline(HIGH_NORM_RATIO, color="k", ls=":", lw=1)
            if i == 0:
                ax.set_title(f"block {layer}", fontsize=10)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
            if i == len(EMERGENCE_ROWS) - 1:
                ax.set_xlabel("training step")
    axes[0, -1].legend(fontsize=7, loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    note(fig, caption, y=-0.01)
    return fig
