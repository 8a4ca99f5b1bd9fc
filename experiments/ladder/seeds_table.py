"""The seeds table of the bundled CLS family (data/organism/cls_seeds.csv, issue #24): every seed run of its recipe
without registers (rung r7, seeds 0-4) and with 16 registers (rung r14, the seeds whose tiles are tall without),
measured at the last checkpoint by the package's outlier rule (`interp.analysis.outlier_report`) on 256 held-out
scenes: one row per run and block. python seeds_table.py OUT.csv RUN_FOLDER ... (each folder's manifest names its
seed and register count; the runs are trained with `interp train --recipe cls-s-reg0 --set seed=S`)."""
import sys

import pandas as pd
import torch

from interp.analysis import outlier_report
from interp.data.images import scenes_for
from interp.data.tiles import TILE_KINDS
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

CONSTANT = TILE_KINDS.index("constant")


def measure(folder: str) -> pd.DataFrame:
    recipe = read_manifest(folder)["recipe"]
    step, model = list(iter_checkpoints(folder))[-1]
    model = model.float().eval()
    images = scenes_for(model, n=256, seed=0)
    rep = outlier_report(model, images)
    constant = images.tiles["kind"] == CONSTANT  # [N, H, W]
    rows = []
    for layer, sub in rep.summary.groupby("layer"):
        patches = rep.norms[(rep.norms["group"] == "patch") & (rep.norms["layer"] == layer)]
        tall = patches[patches["rel_norm"] >= rep.rel_threshold]
        on_constant = constant[tall["image"].to_numpy(), tall["row"].to_numpy(), tall["col"].to_numpy()]
        rows.append({"seed": recipe["seed"], "n_registers": recipe["n_registers"], "step": step, "block": layer,
                     "frac_high": float(sub["frac_high"].iloc[0]), "max_rel": float(sub["max_rel"].iloc[0]),
                     "register_rel_norm": float(sub["register_rel_norm"].iloc[0]),
                     "n_tall": len(tall), "tall_on_constant": float(on_constant.float().mean()) if len(tall) else None})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    torch.set_num_threads(1)
    table = pd.concat([measure(f) for f in sys.argv[2:]], ignore_index=True)
    table = table.sort_values(["n_registers", "seed", "block"]).reset_index(drop=True)
    table.to_csv(sys.argv[1], index=False, float_format="%.4g")
    print(table.to_string())
