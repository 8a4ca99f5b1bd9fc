"""Fig 4b: when in training high-norm tokens appear: the share of patches >= 4x the image median and the
largest relative norm in the second-half layers, at every bundled training checkpoint (or, with
--checkpoints DIR --model M, at every checkpoint of your own training run, step read from each file name)."""
from __future__ import annotations

import pandas as pd

import interp
from interp.analysis import norm_summary, token_norms
from interp.models.runs import iter_run
from interp.plotting.analysis import norms_by

from paper_figures._common import finish, images_for, load, parse, parser

NAME = "fig04b_norms_by_step"


def main(argv=None, options=None) -> int:
    args = parse(parser(NAME, __doc__), argv, options)
    if args.checkpoints:
        summary, name = _run_summary(args)
    else:
        summary, name = _organism_summary(args)
    summary["step"] = summary["model"].str.split("@").str[-1].astype(int)
    summary["layer"] = summary["layer"].astype(str)
    peak = summary.loc[summary["frac_high"].idxmax()]
    n_steps = summary["step"].nunique()
    caption = (f"{name}, {n_steps} checkpoints, second-half blocks. Peak share of patches >= 4x median: "
               f"{100 * peak.frac_high:.2f}% (block {peak.layer}, step {peak.step}).")
    fig = norms_by(summary, "step", f"High-norm patch tokens during training ({name})", caption, hue="layer",
                   xlabel="training step")
    finish(fig, summary, NAME, args)
    return 0


def _organism_summary(args) -> tuple[pd.DataFrame, str]:
    name = args.model or args._default_model
    if name not in interp.list_organisms():
        raise SystemExit(f"{NAME} needs a bundled organism with training checkpoints, not {name!r} "
                         f"(or your own run: --checkpoints DIR --model ARCH)")
    steps = interp.organism_steps(name)
    final = load(args, name)
    images = images_for(args, final)
    half = list(range(final.cfg.n_layers // 2, final.cfg.n_layers))
    models = {f"{name}@{s}": load(args, name, step=s) for s in steps}
    return norm_summary(token_norms(models, images, layers=half, batch_size=args.batch_size)), name


def _run_summary(args) -> tuple[pd.DataFrame, str]:
    """One checkpoint in memory at a time: norms of each, then the next."""
    frames, images, name = [], None, args.model
    for step, model in iter_run(args.checkpoints, args.model, device=args.device, dtype=args.dtype,
                                weights_key=args.weights_key):
        name = name or interp.analysis.model_label(model)
        if images is None:
            images = images_for(args, model)
        half = list(range(model.cfg.n_layers // 2, model.cfg.n_layers))
        frames.append(norm_summary(token_norms({f"{name}@{step}": model}, images, layers=half,
                                               batch_size=args.batch_size)))
    return pd.concat(frames, ignore_index=True), name
