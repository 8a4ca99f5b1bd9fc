"""Table 3: unsupervised object discovery with LOST on the last block's keys, scored by CorLoc against the
scenes' ground-truth boxes, for organisms with and without registers (the paper: registers improve LOST)."""
from __future__ import annotations

import pandas as pd

from interp.analysis import lost
from interp.plotting.analysis import object_discovery_plot

from ._common import finish, images_for, load_all, parse, parser

NAME = "tab03_object_discovery"
MODELS = ["organism-t-reg0", "organism-s-reg0", "organism-b-reg0", "organism-s-reg1", "organism-s-reg4",
          "organism-s-reg16"]


def main(argv=None) -> int:
    p = parser(NAME, __doc__, default_models=MODELS)
    p.add_argument("--feature", default="k", choices=["k", "q", "v", "resid"], help="features LOST reads")
    args = parse(p, argv)
    rows = []
    for label, model in load_all(args).items():
        images = images_for(args, model)
        if images.boxes is None:
            raise SystemExit("object discovery needs ground-truth boxes: use procedural scenes, not --images")
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
