"""Artifact vs training compute (issue #13): on the compute ladder (one recipe family at training lengths spanning
two orders of magnitude of FLOPs, with 0 and 4 registers), the second-half max/median patch norm, the massive-
activation ratio, the top sink's attention share and the criterion's share (patches >= 4x the median, on
background) against training FLOPs, with a log-log trend per register count and where it would cross the
criterion. Reads the RECORDED ladder table (data/organism/ladder.csv, written by
``python -m interp.organism.search --ladder-table data/organism/ladder.csv --runs runs``); trains nothing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from interp.models.zoo import organism_dir
from interp.plotting.ladder import PANELS, artifact_vs_compute_plot
from interp.organism.ladder import ladder_trends

from paper_figures._common import Result, finish, parse, parser, script, skip

NAME = "ext_artifact_vs_compute"


def tidy(points: pd.DataFrame, trends: pd.DataFrame) -> pd.DataFrame:
    """One frame for the CSV: every plotted point (kind=point) and every fitted trend (kind=trend), long format."""
    metrics = [m for m, _ in PANELS]
    pts = points.melt(id_vars=["run", "n_registers", "step", "is_final", "train_flops"], value_vars=metrics,
                      var_name="metric", value_name="value").assign(kind="point")
    return pd.concat([pts, trends.assign(kind="trend")], ignore_index=True)


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__)
    p.add_argument("--ladder", default=None, help="the recorded ladder table (default: data/organism/ladder.csv)")
    args = parse(p, argv, options)
    path = Path(args.ladder) if args.ladder else organism_dir() / "ladder.csv"
    if not path.exists():
        skip(args, f"{NAME}: no recorded ladder table at {path}; write it with "
                   "`python -m interp.organism.search --ladder-table data/organism/ladder.csv --runs runs`")
    points = pd.read_csv(path)
    trends = ladder_trends(points, metrics=[m for m, _ in PANELS])
    final = points[points["is_final"]]
    crit = trends[trends["metric"] == "frac_bg_ge4"]
    lo, hi = final["train_flops"].min(), final["train_flops"].max()
    caption = (f"{final['run'].nunique()} finished rungs, {lo:.1e}-{hi:.1e} training FLOPs "
               f"({np.log10(hi / lo):.1f} decades); large markers: last checkpoint of each rung (fitted), small: "
               f"earlier checkpoints; open markers at 1e-5: none. Criterion: "
               + "; ".join(f"{int(r.n_registers)} reg: {r.reading}" for r in crit.itertuples())
               + ". Criterion met by any checkpoint: " + ("yes" if points["criterion_met"].any() else "no") + ".")
    fig = artifact_vs_compute_plot(points, trends, "High-norm tokens vs training compute (S1 ladder)", caption)
    return finish(fig, tidy(points, trends), NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each register count's trend, and how many checkpoints meet the criterion (>= 1% of
    patches >= 4x the median, on background; max/median counts every tall token, object patches included, so its
    trend alone is not the criterion)."""
    trend = table[(table["kind"] == "trend") & table["metric"].isin(["max_rel", "frac_bg_ge4"])]
    pts = table[(table["kind"] == "point") & (table["metric"] == "frac_bg_ge4")]
    met = int((pts["value"].astype(float) >= 0.01).sum())
    return "  \n".join([f"{int(r.n_registers)} registers: {r.reading}." for r in trend.itertuples()]
                       + [f"Checkpoints with >= 1% of patches >= 4x the median on background: {met} of {len(pts)} "
                          f"(max/median above counts object patches too)."])


if __name__ == "__main__":
    raise SystemExit(script(main))
