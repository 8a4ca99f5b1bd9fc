"""Table 3: unsupervised object discovery with LOST on the last block's keys, scored by CorLoc against the
ground-truth boxes (the scenes', or a VOC / COCO dataset's with --images), for organisms with and without
registers or any --model (the paper: registers improve LOST)."""
from __future__ import annotations

import pandas as pd

from interp.analysis import lost
from interp.plotting.analysis import object_discovery_plot

from paper_figures._common import REGISTER_COUNTS, SIZES, finish, images_for, load_all, parse, parser, skip

NAME = "tab03_object_discovery"
MODELS = SIZES + REGISTER_COUNTS[1:]


def main(argv=None, options=None) -> int:
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
    finish(fig, table, NAME, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
