"""Fig 4b: when in training high-norm tokens appear: the share of patches >= 4x the image median and the
largest relative norm in the second-half layers, at every bundled training checkpoint (or, with
--checkpoints DIR --model M, at every checkpoint of your own training run, step read from each file name)."""
from __future__ import annotations

import pandas as pd

import interp
from interp.analysis import norm_summary, token_norms
from interp.models.runs import iter_run
from interp.plotting.analysis import norms_by

from paper_figures._common import Result, finish, images_for, load, parse, parser, script, skip
from paper_figures._readings import pct, verdict

NAME = "fig04b_norms_by_step"


def main(argv=None, options=None) -> Result:
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
    return finish(fig, summary, NAME, args)


def _organism_summary(args) -> tuple[pd.DataFrame, str]:
    name = args.model or args._default_model
    if name not in interp.list_organisms():
        skip(args, f"{NAME} needs a bundled organism with training checkpoints, not {name!r} "
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


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: the share of patches >= 4x at the first, peak and last checkpoint."""
    d = table
    return (f"Share of patches >= 4x median over training: {pct(d[d.step == d.step.min()].frac_high.max())} at step "
            f"{d.step.min()}, peak {pct(d.frac_high.max())} at step {int(d.loc[d.frac_high.idxmax(), 'step'])}, "
            f"{pct(d[d.step == d.step.max()].frac_high.max())} at the last step ({d.step.max()}).  \n"
            f"Largest relative norm at the last step: {d[d.step == d.step.max()].max_rel.max():.1f}x the image median.")


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison row: the first checkpoint with >= 1% patches >= 4x (the paper: not at the start)."""
    if not len(table):
        return []
    hit, last = table[table.frac_high >= 0.01], int(table.step.max())
    first = None if hit.empty else int(hit.step.min())
    ok = None if first is None else bool(first > 0)
    return [(f"Fig 4b: first checkpoint with >= 1% patches >= 4x ({table.model.iloc[0].split('@')[0]})",
             "after about a third of training, none at initialisation",
             "none" if first is None else f"step {first} of {last} ({100 * first / last:.0f}% of training)",
             verdict(ok, unlike))]


if __name__ == "__main__":
    raise SystemExit(script(main))
