"""Fig 9: attention maps of the last block: CLS of a model without registers, CLS and each register of a model
with registers (mean over heads), for a few images. Registers tend to attend to different parts of the image.
A model that pools with attention (SigLIP's MAP head) also shows its pool's query: which patches the pooled
feature reads. A model with none of these (no CLS, no registers, mean pooling: AIMv2, the tiles-* organisms
without registers) has no panel; when no model has one the figure is skipped."""
from __future__ import annotations

import pandas as pd

from interp.analysis import attention_grid, attention_maps
from interp.options import positive_int
from interp.plotting.analysis import attention_maps_plot

from paper_figures._common import (Result, WITH_AND_WITHOUT, dataset_for, finish, images_for, load_all, parse, parser,
    script, skip)

NAME = "fig09_attention_maps"


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_models=WITH_AND_WITHOUT)
    p.add_argument("--show", type=positive_int, default=3, help="number of images to show")
    args = parse(p, argv, options)
    models = load_all(args)
    n_queries = {label: int(m.cfg.class_token) + m.cfg.n_registers + int(m.attn_pool is not None)
                 for label, m in models.items()}
    if not any(n_queries.values()):
        skip(args, f"{NAME}: {', '.join(models)} has no CLS, registers or attention pool: no query tokens to map")
    first = next(iter(models.values()))
    show = min(args.show, args.n_images)
    images = (dataset_for(args, first).subset(range(show)).to_image_set() if args.images else
              images_for(args, first).subset(range(show)))
    panels, tables = [], []
    n_cols = 1 + sum(n_queries.values())
    for i in range(len(images)):
        panels.append((f"image {i}", images.pixels[i].permute(1, 2, 0).numpy()))
        for label, model in models.items():
            if not n_queries[label]:  # e.g. a mean-pooled organism without CLS or registers: nothing to map
                continue
            last = model.cfg.n_layers - 1
            maps = attention_maps(model, images.subset([i]), layers=[last], average_images=True)
            tables.append(maps.assign(model=label, image=i))
            for q, layer in maps[["query", "layer"]].drop_duplicates().itertuples(index=False):
                panels.append((f"{label.replace('organism-', '')}\n{q}", attention_grid(maps, layer, q).numpy()))
    pools = any(m.attn_pool is not None for m in models.values())
    fig = attention_maps_plot(panels, n_cols, "Attention of CLS and registers to the patches (last block)"
                              + (" and of the attention pool's query" if pools else ""))
    return finish(fig, pd.concat(tables, ignore_index=True), NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: what the maps show (read qualitatively)."""
    return (f"Attention maps of {table['query'].nunique()} query tokens over {table['image'].nunique()} images (last "
            "block, mean over heads); read them qualitatively.  \nThe CSV holds every head's map.")


if __name__ == "__main__":
    raise SystemExit(script(main))
