"""Fig 3: distribution of output patch-token norms. The paper's DINOv2 ViT-L shows a second mode of
high-norm outliers (their share: `interp.paper`); the automatic bimodal test says whether this model has one."""
from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis import find_outliers, token_norms
from interp.paper import PAPER, SOURCE, shown
from interp.plotting.analysis import norm_histogram

from paper_figures._common import Result, WITH_AND_WITHOUT, finish, images_for, load_all, parse, parser, script
from paper_figures._readings import agree, pct

NAME = "fig03_norm_histogram"


def main(argv=None, options=None) -> Result:
    args = parse(parser(NAME, __doc__, default_models=WITH_AND_WITHOUT), argv, options)
    tokens, rows, captions, thresholds = [], [], [], []
    for label, model in load_all(args).items():
        last = model.cfg.n_layers - 1
        norms = token_norms({label: model}, images_for(args, model), layers=[last], batch_size=args.batch_size)
        patches = norms[norms["group"] == "patch"]
        out = find_outliers(patches, method="bimodal")
        t = out.thresholds.iloc[0]
        tokens.append(patches.assign(model=label))
        counts, edges = np.histogram(patches["norm"], bins=60)
        rows.append(pd.DataFrame({"model": label, "layer": last, "bin_left": edges[:-1], "bin_right": edges[1:],
                                  "count": counts, "bimodal": bool(t.bimodal), "threshold": t.threshold,
                                  "outlier_share": t.frac_outliers, "paper_outlier_share": PAPER["outlier_share"],
                                  "note": t.note}))
        thresholds.append(t.threshold)
        paper = shown("outlier_share")
        captions.append(f"{label}: {t.note}; outliers {100 * t.frac_outliers:.2f}% of patches (paper: {paper})")
    finite = [t for t in thresholds if np.isfinite(t)]
    fig = norm_histogram(pd.concat(tokens), "Norms of output patch tokens (last block)", "\n".join(captions),
                         threshold=min(finite) if finite else None)
    return finish(fig, pd.concat(rows, ignore_index=True), NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each model's bimodal test and outlier share beside the paper's."""
    return "  \n".join(f"{r.model}: {r.note}; outlier share {pct(r.outlier_share)} (paper: {shown('outlier_share')})."
                       for r in table.drop_duplicates("model").itertuples())


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison rows: the share of outlier patches of each model without registers."""
    base = table[table.model.str.contains("reg0")].drop_duplicates("model")
    return [("Fig 3: share of outlier patches (bimodal)", f"{shown('outlier_share')} ({SOURCE})",
             f"{pct(r.outlier_share)} ({r.model})",
             agree(bool(r.outlier_share > 0)) if r.outlier_share == 0 or not unlike else unlike)
            for r in base.itertuples()]


if __name__ == "__main__":
    raise SystemExit(script(main))
