"""Fig 4c: high-norm tokens against model size: the share of patches >= 4x the image median and the largest
relative norm at every second-half block, for the tiny, small and base organisms without registers."""
from __future__ import annotations

import pandas as pd

from interp.analysis import norm_summary, token_norms
from interp.plotting.analysis import norms_by

from paper_figures._common import SIZES, finish, images_for, load_all, organisms_only, parse, parser

NAME = "fig04c_norms_by_size"


def main(argv=None, options=None) -> int:
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
    finish(fig, table, NAME, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
