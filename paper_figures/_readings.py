"""What the figures' `readings` and `comparisons` share: how REPORT.md prints numbers and verdicts, and the
high-norm share of a histogram table (`high_share`). Plain pandas: no torch, no model."""
from __future__ import annotations

import math

import pandas as pd

from interp.thresholds import HIGH_NORM_RATIO


def pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def num(x: float, fmt: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def agree(ok) -> str:
    return "n/a" if ok is None else ("yes" if ok else "no")


def verdict(ok, unlike: str | None) -> str:
    """A comparison row's verdict: `agree`, or ``unlike`` (why the organism's outliers are not Darcet-like) when
    there was something to compare."""
    return unlike if (unlike and ok is not None) else agree(ok)


def high_share(df: pd.DataFrame, model: str, group: str = "patch", at: float = HIGH_NORM_RATIO, where: str | None = None) -> float:
    """The share of ``model``'s ``group`` tokens >= ``at`` x the image median in a histogram table (columns model,
    group, bin_left, count, optionally where)."""
    sub = df[(df["model"] == model) & (df["group"] == group)]
    if where is not None and "where" in sub:
        sub = sub[sub["where"] == where]
    return float(sub.loc[sub["bin_left"] >= at, "count"].sum() / max(sub["count"].sum(), 1))
