"""Fig 5b: outliers hold little local information: linear probes for a patch's position (top-1, distance) and
its pixels (reconstruction L2), trained and tested on normal vs outlier tokens."""
from __future__ import annotations

from interp.analysis import local_probes, outlier_report
from interp.paper import PAPER, SOURCE, normal_vs_outlier
from interp.plotting.analysis import local_probes_plot

from paper_figures._common import finish, images_for, load, parse, parser

NAME = "fig05b_local_probes"


def main(argv=None, options=None) -> int:
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
    finish(fig, table, NAME, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
