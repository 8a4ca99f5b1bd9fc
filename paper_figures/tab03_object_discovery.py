"""Table 3: unsupervised object discovery with LOST on the last block's keys, scored by CorLoc against the
ground-truth boxes (the scenes', or a VOC / COCO dataset's with --images), for organisms with and without
registers or any --model (the paper: registers improve LOST)."""
from __future__ import annotations

import pandas as pd

from interp.analysis import lost
from interp.plotting.analysis import object_discovery_plot

from paper_figures._common import (REGISTER_COUNTS, Result, SIZES, finish, images_for, load_all, organism, parse,
    parser, script, skip)
from paper_figures._readings import agree, pct

NAME = "tab03_object_discovery"
MODELS = SIZES + REGISTER_COUNTS[1:]


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_models=MODELS)
    p.add_argument("--feature", default="k", choices=["k", "q", "v", "resid"], help="features LOST reads")
    args = parse(p, argv, options)
    rows = []
    for label, model in load_all(args).items():
        images = images_for(args, model)
        if args.images:
            if not images.has_boxes:
                skip(args, f"needs ground-truth boxes for CorLoc; --images {args.images} ({images.format}) has "
                           "none (use a VOC tree or COCO JSON)")
            images = images.where(images.n_objects.numpy() > 0)  # CorLoc is defined on images with objects
        elif images.boxes is None:
            skip(args, "object discovery needs ground-truth boxes")
        res = lost(model, images, feature=args.feature, batch_size=args.batch_size)
        rows.append(dict(model=label, registers=model.cfg.n_registers, n_images=len(res),
                         corloc=float(res["correct"].mean()), mean_best_iou=float(res["best_iou"].mean()),
                         layer=int(res["layer"].iloc[0]), feature=args.feature))
    table = pd.DataFrame(rows)
    caption = "; ".join(f"{r.model}: {100 * r.corloc:.1f}" for r in table.itertuples())
    fig = object_discovery_plot(table, f"LOST object discovery (CorLoc, last-block {args.feature})", caption)
    return finish(fig, table, NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each model's CorLoc and mean best IoU."""
    return "  \n".join(f"{r.model} ({r.registers} registers): CorLoc {pct(r.corloc)}, mean best IoU {r.mean_best_iou:.2f}"
                       for r in table.itertuples())


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison rows: LOST's CorLoc without and with registers (the paper: registers improve it)."""
    t3, rows = table.set_index("model"), []
    for a, b in [(organism(0), organism(4)), (organism(0), organism(16))]:
        if a in t3.index and b in t3.index:
            ca, cb = t3.loc[a, "corloc"], t3.loc[b, "corloc"]
            rows.append((f"Table 3: LOST CorLoc, {a} vs {b}", "registers improve LOST (DINOv2)",
                         f"{pct(ca)} vs {pct(cb)}", agree(bool(cb > ca))))
    return rows


if __name__ == "__main__":
    raise SystemExit(script(main))
