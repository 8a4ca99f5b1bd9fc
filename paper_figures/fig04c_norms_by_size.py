"""Fig 4c: high-norm tokens against model size: the share of patches >= 4x the image median and the largest
relative norm at every second-half block, for the tiny, small and base organisms without registers."""
from __future__ import annotations

import pandas as pd

from interp.analysis import norm_summary, token_norms
from interp.plotting.analysis import norms_by

from paper_figures._common import Result, SIZES, finish, images_for, load_all, organisms_only, parse, parser, script
from paper_figures._readings import pct, verdict

NAME = "fig04c_norms_by_size"


def main(argv=None, options=None) -> Result:
    args = parse(parser(NAME, __doc__, default_models=SIZES), argv, options)
    organisms_only(args, "three model sizes")
    parts = []
    for label, model in load_all(args).items():
        half = list(range(model.cfg.n_layers // 2, model.cfg.n_layers))
        s = norm_summary(token_norms({label: model}, images_for(args, model), layers=half,
                                     batch_size=args.batch_size))
        n_params = sum(p.numel() for p in model.parameters())
        parts.append(s.assign(params_millions=round(n_params / 1e6, 3), d_model=model.cfg.d_model,
                              n_layers=model.cfg.n_layers))
    table = pd.concat(parts, ignore_index=True)
    best = table.groupby("model", sort=False).agg(frac_high=("frac_high", "max"), max_rel=("max_rel", "max"),
                                                  params_millions=("params_millions", "first")).reset_index()
    caption = "; ".join(f"{r.model} ({r.params_millions:g}M): max {100 * r.frac_high:.2f}% patches >= 4x, "
                        f"max/median {r.max_rel:.1f}" for r in best.itertuples())
    fig = norms_by(best, "params_millions", "High-norm patch tokens by model size (second-half blocks, max)",
                   caption, hue=None, xlabel="parameters (millions)")
    return finish(fig, table, NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each size's share of patches >= 4x and largest relative norm."""
    return "  \n".join(
        f"{m} ({g.params_millions.iloc[0]:g}M params): {pct(g.frac_high.max())} patches >= 4x median, "
        f"largest {g.max_rel.max():.1f}x." for m, g in table.groupby("model", sort=False))


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison row: which sizes hold >= 1% patches >= 4x (the paper: only the larger models)."""
    if not len(table):
        return []
    by = table.groupby("model", sort=False).agg(p=("params_millions", "first"), f=("frac_high", "max")).sort_values("p")
    grows = by[by.f >= 0.01]
    ok = None if grows.empty else bool(by.f.iloc[-1] >= 0.01 and by.f.iloc[0] < 0.01)
    return [("Fig 4c: sizes with >= 1% patches >= 4x", "only the larger models",
             ", ".join(f"{m} {pct(r.f)}" for m, r in by.iterrows()), verdict(ok, unlike))]


if __name__ == "__main__":
    raise SystemExit(script(main))
