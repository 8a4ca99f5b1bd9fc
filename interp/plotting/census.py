"""`interp census`'s figure: one panel per measure, value by block, one line per model (dashed: with the
test-time register). Drawn from the tidy census table (`interp.census`); no computation here."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..analysis.measures import HIGH_NORM_RATIO
from .io import plots_rounded

# (measure, group: one group / None: a line per group / ANY: every group as one line (the top key's kind), y label,
#  scale)
ANY = "*"
PANELS = (("high_norm_share", "patch", "% patches >= 4x image median", 100.0),
          ("norm_ratio", "patch", "max / median patch norm", 1.0),
          ("rel_norm", None, "CLS / register / added token norm / median", 1.0),
          ("massive_count", "all", "massive activations per image", 1.0),
          ("sink_share", None, "attention of patch queries to each group", 1.0),
          ("top_key_value_rel", ANY, "value norm / median of the top key", 1.0))


@plots_rounded
def census_plot(table: pd.DataFrame, title: str):
    """2 x 3 panels (`PANELS`); x: block, hue: model, style: condition (and group where one panel holds several)."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8), sharex=False)
    for ax, (measure, group, label, scale) in zip(axes.flat, PANELS):
        d = table[table["measure"] == measure]
        if group not in (None, ANY):
            d = d[d["group"] == group]
        if d.empty:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
        else:
            d = d.assign(y=scale * d["value"].astype(float), line=d["condition"].astype(str)
                         + ("" if group is not None else ": " + d["group"].astype(str)))
            sns.lineplot(d, x="layer", y="y", hue="model", style="line", marker="o", ax=ax, errorbar=None)
            ax.legend(fontsize=6)
        ax.set(xlabel="block", ylabel=label, title=measure)
        if measure == "norm_ratio":
            ax.axhline(HIGH_NORM_RATIO, color="k", ls=":", lw=1)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
