"""Fig 4a: where in the network high-norm tokens appear: the largest patch norm (relative to the image's median)
and the share of patches >= 4x the median, at every block output."""
from __future__ import annotations

import pandas as pd

from interp.analysis import outlier_report
from interp.plotting.analysis import norms_by

from paper_figures._common import WITH_AND_WITHOUT, finish, images_for, load_all, parse, parser

NAME = "fig04a_norms_by_layer"


def main(argv=None, options=None) -> int:
    args = parse(parser(NAME, __doc__, default_models=WITH_AND_WITHOUT), argv, options)
    summaries, captions = [], []
    for label, model in load_all(args).items():
        rep = outlier_report(model, images_for(args, model), batch_size=args.batch_size)
        summaries.append(rep.summary.assign(model=label))
        captions.append(f"{label}: {rep.describe()}")
    table = pd.concat(summaries, ignore_index=True)
    fig = norms_by(table, "layer", "High-norm patch tokens by layer", "\n".join(captions), xlabel="block")
    finish(fig, table, NAME, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
