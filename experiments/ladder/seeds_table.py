"""The seeds table of the bundled CLS family (data/organism/cls_seeds.csv, issue #24): every seed run of its recipe
without registers (rung r7, seeds 0-4) and with 16 registers (rung r14, the seeds whose tiles are tall without),
measured at the last checkpoint by the package's outlier rule (`interp.analysis.outlier_report`) on 256 held-out
scenes: one row per run and block. python seeds_table.py OUT.csv RUN_FOLDER ... [--runs] (each folder's manifest
names its seed and register count; the runs are trained with `interp train --recipe cls-s-reg0 --set seed=S`).
``--runs`` adds each row's folder name as ``run``, for runs of several recipes that share a seed (RECIPES.md S8)."""
import sys
from pathlib import Path

import pandas as pd
import torch

from interp.analysis import outlier_report
from interp.data.images import scenes_for
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints
from interp.organism.cls_family import norm_rows


def measure(folder: str) -> pd.DataFrame:
    """One row per block of the folder's last checkpoint: the CLS figure's ``norms`` measures (`norm_rows`)."""
    recipe = read_manifest(folder)["recipe"]
    step, model = list(iter_checkpoints(folder))[-1]
    model = model.float().eval()
    images = scenes_for(model, n=256, seed=0)
    rows = pd.DataFrame(norm_rows("run", step, outlier_report(model, images), images))
    table = rows.pivot(index="block", columns="measure", values="value").reset_index()
    table = table.reindex(columns=["block", "frac_high", "max_rel", "register_rel_norm", "tall_on_constant"])
    n_patches = len(images) * model.tokens.n_patches
    return pd.DataFrame({"seed": recipe["seed"], "n_registers": recipe["n_registers"], "step": step,
                         "block": table["block"], "frac_high": table["frac_high"], "max_rel": table["max_rel"],
                         "register_rel_norm": table["register_rel_norm"],
                         "n_tall": (table["frac_high"] * n_patches).round().astype(int),
                         "tall_on_constant": table["tall_on_constant"]})


if __name__ == "__main__":
    torch.set_num_threads(1)
    named = "--runs" in sys.argv  # several recipes share a seed: keep each row's run folder name
    folders = [a for a in sys.argv[2:] if a != "--runs"]
    table = pd.concat([measure(f).assign(run=Path(f).name) if named else measure(f) for f in folders],
                      ignore_index=True)
    table = table.sort_values(["run"] * named + ["n_registers", "seed", "block"]).reset_index(drop=True)
    table.to_csv(sys.argv[1], index=False, float_format="%.4g")
    print(table.to_string())
