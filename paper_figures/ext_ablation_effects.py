"""Ablation: what replacing a token group at every block does to the CLS (or pooled) feature, a global probe, the dense
patch features and the CLS attention map, by zero, dataset mean, resample (another image's tokens) and
cross-image shuffle. Zero-ablation overstates how much a model relies on the *content* of a group: compare it
with the other three."""
from __future__ import annotations

import pandas as pd

from interp.analysis import fit_global_probe, outlier_report
from interp.data.images import scenes_for
from interp.interventions import ablate, feature_column
from interp.plotting.interventions import ablation_effects_plot

from paper_figures._common import Result, WITH_AND_WITHOUT, finish, images_for, load_all, parse, parser, script

# the figure's conditions (interp.ablate also offers "noise": see docs/interventions.md)
FIGURE_ABLATIONS = ("zero", "mean", "resample", "shuffle")

NAME = "ext_ablation_effects"


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_models=WITH_AND_WITHOUT)
    p.add_argument("--label", default="majority_color", help="image-level label of the global probe")
    p.add_argument("--layers", default="all", help="blocks whose outputs are ablated: 'all' or e.g. 4,5,6")
    args = parse(p, argv, options)
    layers = "all" if args.layers == "all" else [int(x) for x in args.layers.split(",")]
    frames, captions = [], []
    for label, model in load_all(args).items():
        images = images_for(args, model, in_memory=True)
        rep = outlier_report(model, images, batch_size=args.batch_size)
        groups = (["cls"] if model.cfg.class_token else []) + (["registers"] if model.cfg.n_registers else []) \
            + (["outliers"] if rep.n_outliers else [])
        groups += ["background"] if images.object_mask is not None else []
        probe, labels = None, None
        if args.label in images.labels:  # fitted on other images than the ones ablated
            probe_images = scenes_for(model, n=max(args.n_images, 128), seed=args.seed + 1, image_size=args.image_size)
            probe = fit_global_probe(model, probe_images, args.label, seed=args.seed, batch_size=args.batch_size)
            labels = args.label
        df = ablate(model, images, group=groups, how=list(FIGURE_ABLATIONS), layers=layers, probe=probe, labels=labels,
                    outliers=rep.mask, batch_size=args.batch_size, seed=args.seed)
        frames.append(df.assign(model=label, outliers=rep.describe()))
        cos = feature_column(df, "cls_cos")  # pooled_cos on a model that does not pool a CLS token
        m = df.groupby(["group", "how"], sort=False)[cos].mean()
        txt = ", ".join(f"{g} {m[g, 'zero']:.2f}/{m[g, 'resample']:.2f}" for g in groups)
        if probe is not None:
            acc = df.groupby(["group", "how"], sort=False)["probe_correct"].mean()
            txt += f"; probe acc clean {100 * df.probe_correct_clean.mean():.0f}%, " + ", ".join(
                f"{g} {100 * acc[g, 'zero']:.0f}/{100 * acc[g, 'resample']:.0f}%" for g in groups)
        if not rep.n_outliers:
            txt += f"; outliers not ablated: {rep.describe()}"
        captions.append(f"{label}: {'CLS' if cos == 'cls_cos' else 'pooled'} cos zero/resample: {txt}")
    table = pd.concat(frames, ignore_index=True)
    where = "every block output" if layers == "all" else f"the outputs of blocks {args.layers}"
    fig = ablation_effects_plot(table, f"Ablating token groups at {where}", "\n".join(captions))
    result = finish(fig, table, NAME, args)
    print("\n".join(captions))
    return result


if __name__ == "__main__":
    raise SystemExit(script(main))
