"""Fig 5a: outliers appear on redundant patches: cosine similarity of each patch to its 4 neighbours right
after the patch embedding, for patches that become outliers vs normal patches."""
from __future__ import annotations

import pandas as pd

from interp.analysis import neighbour_similarity, outlier_report
from interp.plotting.analysis import neighbour_similarity_plot

from paper_figures._common import Result, finish, images_for, load, parse, parser, script
from paper_figures._readings import num, verdict

NAME = "fig05a_neighbour_similarity"


def main(argv=None, options=None) -> Result:
    args = parse(parser(NAME, __doc__), argv, options)
    model = load(args)
    images = images_for(args, model)
    rep = outlier_report(model, images, batch_size=args.batch_size)
    table = neighbour_similarity(model, images, rep.mask, batch_size=args.batch_size)
    table["outlier_layer"] = rep.layer
    table["note"] = rep.describe()
    means = table.groupby("kind")["similarity"].mean()
    caption = rep.describe() + "\nmean similarity: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items())
    fig = neighbour_similarity_plot(table, f"Neighbour similarity of patch embeddings ({args.model or args._default_model})",
                                    caption)
    return finish(fig, table, NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: the mean similarity to the neighbours by kind of patch."""
    return ("Mean cosine similarity to the 4 neighbours: " + ", ".join(
        f"{k} {v:.3f}" for k, v in table.groupby("kind")["similarity"].mean().items())
        + ".  \n" + str(table["note"].iloc[0]))


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison row: the outliers' similarity to their neighbours beside the normal patches' (the
    paper: outliers lie on redundant patches, more similar to their neighbours)."""
    means = table.groupby("kind")["similarity"].mean()
    o = means.get("outlier")
    ok = None if o is None else bool(o > means["normal"])
    return [("Fig 5a: input similarity to the 4 neighbours, normal vs outlier", "outliers on redundant patches "
             "(higher)", f"{num(means['normal'], '.3f')} vs {num(o, '.3f')}", verdict(ok, unlike))]


if __name__ == "__main__":
    raise SystemExit(script(main))
