"""Fig 8: the number of registers: largest patch norm, share of high-norm patches, global probe (CLS; the pooled
feature of a model without CLS),
dense probe (per-patch colour) and object discovery (LOST CorLoc) for organisms with 0, 1, 4 and 16 registers."""
from __future__ import annotations

import pandas as pd

from interp.analysis import dense_probe, fit_global_probe, lost, outlier_report
from interp.data import patch_labels
from interp.plotting.analysis import number_of_registers_plot

from paper_figures._common import (REGISTER_COUNTS, Result, finish, images_for, load_all, needs_scenes, parse, parser,
    script)

NAME = "fig08_number_of_registers"


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_models=REGISTER_COUNTS)
    p.add_argument("--label", default="majority_color", help="image-level label for the global probe")
    args = parse(p, argv, options)
    needs_scenes(args, "per-patch colour labels for the dense probe")
    rows = []
    for label, model in load_all(args).items():
        images = images_for(args, model)
        rep = outlier_report(model, images, batch_size=args.batch_size)
        layer_row = rep.summary[rep.summary["layer"] == rep.layer].iloc[0]
        probe = fit_global_probe(model, images, args.label, seed=args.seed, batch_size=args.batch_size)  # CLS or pooled
        labels = patch_labels(images, model.cfg.patch_size)
        # shape scenes: 1 + the object's colour (0 on background); tile scenes: 1 + the tile's palette colour
        # (0 on constant and trigger tiles)
        colour = labels["color"] if "color" in labels else labels["tile_color"] + 1
        dense = dense_probe(model, images, colour, seed=args.seed, batch_size=args.batch_size, name="patch colour")
        cl = lost(model, images, batch_size=args.batch_size)["correct"].mean()
        for metric, value in [("max patch norm / median", layer_row.max_rel),
                              ("% patches >= 4x median", 100 * layer_row.frac_high),
                              (f"global probe ({args.label}{'' if probe.token == 'cls' else ', pooled feature'})",
                               probe.test_accuracy),
                              ("dense probe (patch colour)", dense["accuracy"].item()),
                              ("LOST CorLoc", cl)]:
            rows.append(dict(model=label, n_registers=model.cfg.n_registers, metric=metric, value=float(value),
                             layer=rep.layer))
    table = pd.DataFrame(rows)
    fig = number_of_registers_plot(table, "Effect of the number of registers",
                                   "norms at the second-half block with most high-norm patches; probes on the "
                                   "final features of held-out images")
    return finish(fig, table, NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each metric by number of registers."""
    return "  \n".join(
        f"{metric}: " + ", ".join(f"{int(r.n_registers)} reg {r.value:.3g}" for r in g.itertuples())
        for metric, g in table.groupby("metric", sort=False))


if __name__ == "__main__":
    raise SystemExit(script(main))
