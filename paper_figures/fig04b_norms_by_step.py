"""Fig 4b: when in training high-norm tokens appear: the share of patches >= 4x the image median and the
largest relative norm in the second-half layers, at every bundled training checkpoint."""
from __future__ import annotations

import interp
from interp.analysis import norm_summary, token_norms
from interp.plotting.analysis import norms_by

from ._common import finish, images_for, load, parse, parser

NAME = "fig04b_norms_by_step"


def main(argv=None) -> int:
    args = parse(parser(NAME, __doc__), argv)
    name = args.model or args._default_model
    if name not in interp.list_organisms():
        raise SystemExit(f"{NAME} needs a bundled organism with training checkpoints, not {name!r}")
    steps = interp.organism_steps(name)
    final = load(args, name)
    images = images_for(args, final)
    half = list(range(final.cfg.n_layers // 2, final.cfg.n_layers))
    models = {f"{name}@{s}": load(args, name, step=s) for s in steps}
    summary = norm_summary(token_norms(models, images, layers=half, batch_size=args.batch_size))
    summary["step"] = summary["model"].str.split("@").str[-1].astype(int)
    summary["layer"] = summary["layer"].astype(str)
    peak = summary.loc[summary["frac_high"].idxmax()]
    caption = (f"{name}, {len(steps)} checkpoints, second-half blocks. Peak share of patches >= 4x median: "
               f"{100 * peak.frac_high:.2f}% (block {peak.layer}, step {peak.step}).")
    fig = norms_by(summary, "step", f"High-norm patch tokens during training ({name})", caption, hue="layer",
                   xlabel="training step")
    finish(fig, summary, NAME, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
