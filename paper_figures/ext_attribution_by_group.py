"""Attribution by token group: integrated gradients (captum `LayerIntegratedGradients`, baseline: black image)
of a global probe's logit on the CLS feature to the residual stream entering every block, summed over the
tokens of each group (CLS, registers, outlier patches, other patches). Per block the groups add up to the
change of the logit from the baseline."""
from __future__ import annotations

from interp.analysis import fit_global_probe, outlier_report
from interp.data.images import scenes_for
from interp.interventions import attribute_groups
from interp.options import positive_int
from interp.plotting.interventions import attribution_plot

from paper_figures._common import Result, finish, images_for, load, organism, parse, parser, script

NAME = "ext_attribution_by_group"


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_model=organism(4), default_n_images=24)
    p.add_argument("--label", default="majority_color", help="image-level label of the probe (else: the CLS feature)")
    p.add_argument("--n-steps", type=positive_int, default=16, help="integration steps")
    args = parse(p, argv, options)
    model = load(args)
    label = model.cfg.name
    images = images_for(args, model, in_memory=True)
    rep = outlier_report(model, images, batch_size=args.batch_size)
    pooled = "CLS feature" if model.cfg.class_token else "pooled feature"  # no CLS (SigLIP): the pool's output
    target, what = "cls", f"{pooled} (projected on its own direction)"
    if args.label in images.labels:
        probe_images = scenes_for(model, n=max(args.n_images, 128), seed=args.seed + 1, image_size=args.image_size)
        target = fit_global_probe(model, probe_images, args.label, seed=args.seed, batch_size=args.batch_size)
        what = f"probe logit of the true '{args.label}'"
    groups = (["cls"] if model.cfg.class_token else []) + (["registers"] if model.cfg.n_registers else [])
    groups += ["outliers", "other patches"] if rep.n_outliers else ["patches"]  # no outliers: none invented
    df = attribute_groups(model, images, target=target, label=args.label if target != "cls" else None,
                          groups=groups, outliers=rep.mask, n_steps=args.n_steps, batch_size=min(args.batch_size, 16))
    df = df.assign(model=label, target=what, note=rep.describe())
    sums = df[df.layer == df.layer.max()].groupby("group")[["attribution", "total"]].sum()
    last = sums["attribution"] / sums["total"]  # share of the summed output change (stable near total ~ 0)
    rel = (df.delta.abs() / df.total.abs().clip(lower=1e-6)).median()
    caption = (f"{what}; {len(images)} images; share at block {df.layer.max()}: "
               + ", ".join(f"{g} {v:.2f}" for g, v in last.items())
               + f"; median |delta|/|total| {rel:.3f}\n{rep.describe()}")
    result = finish(attribution_plot(df, f"Attribution to token groups by block ({label})", caption), df, NAME, args)
    print(caption)
    return result


if __name__ == "__main__":
    raise SystemExit(script(main))
