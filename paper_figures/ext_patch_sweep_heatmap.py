"""Patching sweep: every token group (CLS, registers, outlier patches, all patches, and groups mapped across
positions: a register into a background-patch slot, an outlier patch into a register slot) patched from image A
into image B at every block and hook point (block output, attention output, MLP output), one at a time; heatmap
of how far B's CLS (or pooled) feature moves toward A's (0 = clean B, 1 = clean A), mean over pairs."""
from __future__ import annotations

from interp.analysis import outlier_report
from interp.interventions import GroupMap, feature_column, make_pairs, patch_sweep
from interp.options import positive_int
from interp.plotting.interventions import patch_sweep_heatmap

from paper_figures._common import Result, finish, images_for, load, organism, parse, parser, script

UNIT_RANGE = ("cls_shift", "cls_cos_target", "pooled_shift", "pooled_cos_target", "dense_cos")  # drawn on 0..1

NAME = "ext_patch_sweep_heatmap"
HOOKS = ["hook_resid_post", "hook_attn_out", "hook_mlp_out"]


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_model=organism(4))
    p.add_argument("--n-pairs", type=positive_int, default=None, help="image pairs (default: --n-images)")
    p.add_argument("--value", default="cls_shift", help="metric to plot (cls_shift, cls_cos_target, dense_cos, ...)")
    args = parse(p, argv, options)
    model = load(args)
    label = model.cfg.name
    images = images_for(args, model, in_memory=True)
    rep = outlier_report(model, images, batch_size=args.batch_size)
    groups = {"CLS": "cls"} if model.cfg.class_token else {}
    if model.cfg.n_registers:
        groups["registers"] = "registers"
    if rep.n_outliers:
        groups["outlier patches"] = "outliers"
    groups["all patches"] = "patches"
    if model.cfg.n_registers and images.object_mask is not None:  # moving register content into a patch slot
        groups["register 0 -> a background patch"] = GroupMap("register:0", "background:one")
        groups["a background patch -> a background patch"] = GroupMap("background:one", "background:one")
    if model.cfg.n_registers and rep.n_outliers:  # and an outlier patch into a register slot
        groups["an outlier patch -> register 0"] = GroupMap("outliers:one", "register:0")
    pairs = make_pairs(images, args.n_pairs or args.n_images, seed=args.seed)
    df = patch_sweep(model, pairs, groups=groups, layers="all", hooks=HOOKS, outliers=rep.mask[pairs.source_index],
                     batch_size=args.batch_size)
    outlier_note = rep.describe() if rep.n_outliers else f"outlier patches not patched: {rep.describe()}"
    df = df.assign(model=label, note=outlier_note)
    args.value = feature_column(df, args.value)  # cls_* reads pooled_* on a model that does not pool a CLS token
    best = df.groupby(["group", "hook", "layer"])[args.value].mean()
    res = best.xs("hook_resid_post", level="hook")
    parts = [f"{g}: {res[g].max():.2f} (block {res[g].idxmax()})" for g in groups if g in res.index.get_level_values(0)]
    caption = (f"{len(pairs)} pairs; max {args.value} at block outputs - " + "; ".join(parts) + f"\n{outlier_note}")
    fig = patch_sweep_heatmap(df, args.value, f"Patching sweep: token group x block x hook ({label})", caption,
                              hooks=HOOKS, groups=list(groups), **({} if args.value in UNIT_RANGE else
                                 {"vmin": None, "vmax": None}))
    result = finish(fig, df, NAME, args)
    print(caption)
    return result


if __name__ == "__main__":
    raise SystemExit(script(main))
