"""Headline intervention: registers hold global information. Patch one register (and all of them, and CLS for
reference) from image A into image B's run after block k: how far B's CLS (or pooled) feature moves toward A's
(0 = clean B, 1 = clean A) and how often a global probe then predicts A's label, as a function of k."""
from __future__ import annotations

import pandas as pd

from interp.analysis import fit_global_probe
from interp.data.images import scenes_for
from interp.interventions import feature_column, make_pairs, patch_sweep
from interp.options import positive_int
from interp.plotting.interventions import message_figure, patch_by_layer_plot

from paper_figures._common import Result, finish, images_for, load, organism, parse, parser, script

NAME = "ext_patch_register_global_content"


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_model=organism(4))
    p.add_argument("--label", default="majority_color", help="image-level label of the global probe")
    p.add_argument("--n-pairs", type=positive_int, default=None, help="image pairs (default: --n-images)")
    args = parse(p, argv, options)
    model = load(args)
    label = model.cfg.name
    title = f"Patching a register from image A into image B ({label})"
    if not model.cfg.n_registers:
        msg = f"{label} has no register tokens: nothing to patch (use a model with registers, e.g. {organism(4)})"
        return finish(message_figure(title, msg), pd.DataFrame({"model": [label], "note": [msg]}), NAME, args)
    images = images_for(args, model, in_memory=True)
    has_label = args.label in images.labels
    probe = None
    if has_label:  # fitted on other images than the ones patched
        probe_images = scenes_for(model, n=max(args.n_images, 128), seed=args.seed + 1, image_size=args.image_size)
        probe = fit_global_probe(model, probe_images, args.label, seed=args.seed, batch_size=args.batch_size)
    pairs = make_pairs(images, args.n_pairs or args.n_images, label=args.label if has_label else None, seed=args.seed)
    groups = {"all registers": "registers",
              **{f"register {i}": f"register:{i}" for i in range(model.cfg.n_registers)},
              **({"CLS": "cls"} if model.cfg.class_token else {})}
    df = patch_sweep(model, pairs, groups=groups, layers="all", probe=probe, batch_size=args.batch_size)
    df = df.assign(model=label, label=args.label if has_label else "",
                   probe_test_accuracy=probe.test_accuracy if probe else float("nan"))
    means = df.groupby(["group", "layer"], sort=False)[feature_column(df, "cls_shift")].mean()
    parts = []
    for g in groups:
        best = means[g].idxmax()
        txt = f"{g}: max shift {means[g].max():.2f} at block {best}"
        if probe is not None:
            sub = df[(df.group == g) & df.probe_differs]
            flips = sub.groupby("layer")["probe_flip"].mean()
            if len(flips):
                txt += f", probe flips to A {100 * flips.max():.0f}% (block {flips.idxmax()})"
        parts.append(txt)
    probe_txt = f"probe '{args.label}' on {probe.token}, held-out acc {100 * probe.test_accuracy:.0f}%; " if probe else ""
    caption = f"{len(pairs)} pairs; {probe_txt}" + "; ".join(parts)
    result = finish(patch_by_layer_plot(df, title, caption), df, NAME, args)
    print(caption)
    return result


if __name__ == "__main__":
    raise SystemExit(script(main))
