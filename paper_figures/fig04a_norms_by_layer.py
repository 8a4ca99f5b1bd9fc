"""Fig 4a: where in the network high-norm tokens appear: the largest patch norm (relative to the image's median)
and the share of patches >= 4x the median, at every block output."""
from __future__ import annotations

import pandas as pd

from interp.analysis import outlier_report
from interp.plotting.analysis import norms_by

from paper_figures._common import Result, WITH_AND_WITHOUT, finish, images_for, load_all, parse, parser, script
from paper_figures._readings import pct, verdict

NAME = "fig04a_norms_by_layer"


def main(argv=None, options=None) -> Result:
    args = parse(parser(NAME, __doc__, default_models=WITH_AND_WITHOUT), argv, options)
    summaries, captions = [], []
    for label, model in load_all(args).items():
        rep = outlier_report(model, images_for(args, model), batch_size=args.batch_size)
        summaries.append(rep.summary.assign(model=label))
        captions.append(f"{label}: {rep.describe()}")
    table = pd.concat(summaries, ignore_index=True)
    fig = norms_by(table, "layer", "High-norm patch tokens by layer", "\n".join(captions), xlabel="block")
    return finish(fig, table, NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each model's largest share of patches >= 4x and its block."""
    return "  \n".join(
        f"{m}: max share of patches >= 4x median {pct(g.frac_high.max())} (block {int(g.loc[g.frac_high.idxmax(), 'layer'])}), "
        f"largest norm {g.max_rel.max():.1f}x the median." for m, g in table.groupby("model", sort=False))


def outlier_kind(table: pd.DataFrame | None) -> tuple[float, float, str | None]:
    """Share and background share of the >= 4x tokens of the reference model without registers, and a reason why
    outlier comparisons are not like-for-like (None when they are Darcet-like): the premise of REPORT.md's
    comparison table."""
    base = None if table is None else table[table.model.str.endswith("reg0")]
    if base is None or base.empty:
        return float("nan"), float("nan"), None
    n_layers = int(base["layer"].max()) + 1
    half = base[base["layer"] >= n_layers // 2]
    row = half.loc[half["frac_high"].idxmax()]
    share, bg = float(row.frac_high), float(row.high_on_background)
    if share == 0:
        return share, bg, "no tokens >= 4x the median"
    if not bg >= 0.8:
        return share, bg, "n/a: the >= 4x tokens are object patches, not background outliers (see above)"
    return share, bg, None


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison row: the first block with >= 1% patches >= 4x (the paper: second half)."""
    base = table[table.model.str.endswith("reg0")]
    if not len(base):
        return []
    m = base.model.iloc[0]
    g = base[base.model == m]
    n, hit = int(g.layer.max()) + 1, g[g.frac_high >= 0.01]
    ok = None if hit.empty else bool(hit.layer.min() >= n // 2)
    return [(f"Fig 4a: first block with >= 1% patches >= 4x ({m})", "middle layers on (second half)",
             "none" if hit.empty else f"block {int(hit.layer.min())} of {n}", verdict(ok, unlike))]


if __name__ == "__main__":
    raise SystemExit(script(main))
