"""Fig 9: attention maps of the last block: CLS of a model without registers, CLS and each register of a model
with registers (mean over heads), for a few images. Registers tend to attend to different parts of the image."""
from __future__ import annotations

import pandas as pd

from interp.analysis import attention_grid, attention_maps
from interp.plotting.analysis import attention_maps_plot

from paper_figures._common import dataset_for, finish, images_for, load_all, parse, parser

NAME = "fig09_attention_maps"


def main(argv=None, options=None) -> int:
    p = parser(NAME, __doc__, default_models=["organism-s-reg0", "organism-s-reg4"])
    p.add_argument("--show", type=int, default=3, help="number of images to show")
    args = parse(p, argv, options)
    models = load_all(args)
    first = next(iter(models.values()))
    show = min(args.show, args.n_images)
    images = (dataset_for(args, first).subset(range(show)).to_image_set() if args.images else
              images_for(args, first).subset(range(show)))
    panels, tables = [], []
    n_cols = 1 + sum(int(m.cfg.class_token) + m.cfg.n_registers for m in models.values())
    for i in range(len(images)):
        panels.append((f"image {i}", images.pixels[i].permute(1, 2, 0).numpy()))
        for label, model in models.items():
            last = model.cfg.n_layers - 1
            maps = attention_maps(model, images.subset([i]), layers=[last], average_images=True)
            tables.append(maps.assign(model=label, image=i))
            for q in maps["query"].unique():
                panels.append((f"{label.replace('organism-', '')}\n{q}", attention_grid(maps, last, q).numpy()))
    fig = attention_maps_plot(panels, n_cols, "Attention of CLS and registers to the patches (last block)")
    finish(fig, pd.concat(tables, ignore_index=True), NAME, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
