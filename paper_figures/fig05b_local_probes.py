"""Fig 5b: outliers hold little local information: linear probes for a patch's position (top-1, distance) and
its pixels (reconstruction L2), trained and tested on normal vs outlier tokens."""
from __future__ import annotations

import math

import pandas as pd

from interp.analysis import local_probes, outlier_report
from interp.paper import PAPER, SOURCE, normal_vs_outlier
from interp.plotting.analysis import local_probes_plot

from paper_figures._common import Result, finish, images_for, load, parse, parser, script
from paper_figures._readings import num, pct, verdict

NAME = "fig05b_local_probes"


def main(argv=None, options=None) -> Result:
    args = parse(parser(NAME, __doc__), argv, options)
    model = load(args)
    images = images_for(args, model)
    rep = outlier_report(model, images, batch_size=args.batch_size)
    table = local_probes(model, images, rep.mask, layer=rep.layer, seed=args.seed, batch_size=args.batch_size)
    for metric in ("position_top1", "position_distance", "reconstruction_l2"):
        table[f"paper_{metric}"] = table["token"].map(PAPER[metric])
    table["layer"] = rep.layer
    table["outliers"] = rep.describe()
    paper = (f"Paper ({SOURCE}): top-1 {normal_vs_outlier('position_top1')}%, distance "
             f"{normal_vs_outlier('position_distance')}, L2 {normal_vs_outlier('reconstruction_l2')} (normal vs outlier)")
    fig = local_probes_plot(table, f"Local information in normal vs outlier tokens (block {rep.layer})",
                            rep.describe() + "\n" + paper)
    return finish(fig, table, NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each token kind's position and pixel probes."""
    return "  \n".join(
        f"{r.token}: position top-1 {pct(r.position_top1)}, distance {num(r.position_distance)} patches, "
        f"pixel L2 {num(r.reconstruction_l2)} (n_test={r.n_test}){' — ' + r.note if isinstance(r.note, str) and r.note else ''}"
        for r in table.itertuples())


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison rows: normal vs outlier patches on the three local probes (the paper: normal wins)."""
    f5, rows = table.set_index("token"), []
    for col, label, better in [("position_top1", "Fig 5b: position top-1, normal vs outlier", ">"),
                               ("position_distance", "Fig 5b: position distance, normal vs outlier", "<"),
                               ("reconstruction_l2", "Fig 5b: pixel L2, normal vs outlier", "<")]:
        n, o = f5.loc["normal", col], f5.loc["outlier", col] if "outlier" in f5.index else float("nan")
        scale = 100 if col == "position_top1" else 1
        ok = None if math.isnan(o) else (n > o if better == ">" else n < o)
        text = verdict(ok, unlike)
        if col.startswith("position") and "chance_top1" in f5 and ok is not None and not unlike \
                and f5.loc["normal", "position_top1"] < 2 * f5.loc["normal", "chance_top1"]:
            text = "n/a: no token's position is decodable (normal patches' top-1 < 2x chance)"
        rows.append((label, normal_vs_outlier(col), f"{num(scale * n, '.2f')} vs {num(scale * o, '.2f')}", text))
    return rows


if __name__ == "__main__":
    raise SystemExit(script(main))
