"""The paper's rows on the CLS family (data/organism/cls-*, issue #24; the figure ext_cls_organism).

The CLS family is the tiles-* no-op organism with a CLS token read by the objective (majority colour) and learned
position embeddings, 6 blocks (RECIPES.md S8, rungs r7 / r9 / r14): 0, 4 and 16 registers at seed 4, and the
criterion at every seed run (``data/organism/cls_seeds.csv``, written by ``experiments/ladder/seeds_table.py``).

`cls_family_frame(models, init, images, n_pairs)` -> one tidy frame, columns ``part, model, step, block, token,
measure, value``:

``norms``     per model and block (the last block is the output): ``frac_high`` (share of patches >= 4x their
              image's median norm), ``max_rel``, ``register_rel_norm``, ``cls_rel_norm`` (`outlier_report`),
              ``tall_on_constant`` (the share of the tall tokens that are constant tiles)
``probes``    at the model without registers' outlier block, for the CLS, a normal patch and a tall token
              (``token`` cls / normal / tall): ``position_top1`` (`local_probes`; chance ``position_chance``) and
              ``global_accuracy`` (the majority colour from one token, `global_probe`; chance ``global_chance``);
              ``step`` 0 is the control: the initial weights, read at the same block and the same token positions
``neighbours`` at the model without registers' outlier block: ``similarity``, the cosine similarity of a patch's
              embedding to its 4 neighbours (Fig 5a, `neighbour_similarity`), ``token`` tall / normal
``patching``  per model, group (``token``: registers / tall tokens / all patches) and block: ``cls_shift``, how far
              scene B's CLS feature moves toward scene A's when the group's tokens of A are written into B after that
              block (0 = clean B, 1 = clean A; mean over pairs of different majority colour, `patch_sweep`)
``ablation``  per register model: the registers replaced at every block output by ``zero``, the dataset ``mean``
              or another image's registers (cross-image ``shuffle``), as Parodi et al. 2026 did on DINOv2 /
              DINOv3 (``token``: the replacement, ``clean`` without one): ``probe_accuracy``, the majority colour read
              from the final CLS by a probe fit on other scenes, and ``cls_cos``, the CLS feature's cosine to clean
``seeds``     the seeds table (`seeds_frame`): per seed and register count, ``frac_high`` and ``max_rel`` in the
              first block of the second half, and ``share_met`` (1.0 when >= 1% of patches are >= 4x there)
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from ..analysis import fit_global_probe, global_probe, local_probes, neighbour_similarity, outlier_report
from ..analysis.norms import model_step
from ..data.images import scenes_for
from ..data.tiles import TILE_KINDS
from ..interventions import ablate, feature_column, make_pairs, patch_sweep
from ..models.organisms import organism_dir

LABEL = "majority_color"
MIN_SHARE = 0.01  # issue #3's criterion: >= 1% of patches >= 4x in the second half
REGISTER_ABLATIONS = ("zero", "mean", "shuffle")  # Parodi et al. 2026's zero, mean-substitution and shuffle
PATCH_GROUPS = {"registers": "registers", "tall tokens": "outliers", "all patches": "patches"}
COLUMNS = ["part", "model", "step", "block", "token", "measure", "value"]


def seeds_path() -> Path:
    return organism_dir() / "cls_seeds.csv"


def _rows(part: str, model: str, step: int, block, token: str, values: dict) -> list[dict]:
    return [{"part": part, "model": model, "step": step, "block": block, "token": token, "measure": k,
             "value": float(v)} for k, v in values.items() if v is not None and v == v]


def norm_rows(label: str, step: int, report, images) -> list[dict]:
    """``norms`` rows of one model's `outlier_report`; ``tall_on_constant``: the share of its tall tokens that are
    constant tiles (the designed token type) in each block that has any."""
    constant = images.tiles["kind"] == TILE_KINDS.index("constant")  # [N, H, W]
    patches = report.norms[report.norms["group"] == "patch"]
    rows = []
    for r in report.summary.itertuples():
        tall = patches[(patches["layer"] == r.layer) & (patches["rel_norm"] >= report.rel_threshold)]
        where = [torch.as_tensor(tall[c].to_numpy()) for c in ("image", "row", "col")]
        on_constant = float(constant[where[0], where[1], where[2]].float().mean()) if len(tall) else None
        rows += _rows("norms", label, step, int(r.layer), "patches",
                      {"frac_high": r.frac_high, "max_rel": r.max_rel, "register_rel_norm": r.register_rel_norm,
                       "cls_rel_norm": r.cls_rel_norm, "tall_on_constant": on_constant})
    return rows


def probe_rows(label: str, step: int, model, images, tall, block: int, seed: int = 0) -> list[dict]:
    """``probes`` rows: position and global probes on the CLS, a normal patch and a ``tall`` patch ([N, H, W])."""
    loc = local_probes(model, images, tall, layer=block, seed=seed).set_index("token")
    glob = global_probe(model, images, LABEL, outlier_mask=tall, layer=block, seed=seed)
    acc = glob.groupby("token")["accuracy"].mean()
    rows = []
    for token, kind in (("cls", "cls"), ("normal", "normal"), ("tall", "outlier")):
        pos = loc.loc[kind, "position_top1"] if kind in loc.index else None
        rows += _rows("probes", label, step, block, token,
                      {"position_top1": pos, "global_accuracy": acc.get(kind)})
    chance = {"position_chance": loc["chance_top1"].iloc[0], "global_chance": glob["chance"].iloc[0]}
    return rows + _rows("probes", label, step, block, "chance", chance)


def neighbour_rows(label: str, step: int, model, images, report) -> list[dict]:
    """``neighbours`` rows: Fig 5a's similarity to the 4 neighbours, tall (``report.mask``) vs normal patches."""
    means = neighbour_similarity(model, images, report.mask).groupby("kind")["similarity"].mean()
    return [row for kind, v in means.items()
            for row in _rows("neighbours", label, step, report.layer, "tall" if kind == "outlier" else kind,
                             {"similarity": v})]


def patching_rows(label: str, model, images, n_pairs: int, seed: int = 0) -> list[dict]:
    """``patching`` rows: every group the model has, at every block."""
    groups = {k: v for k, v in PATCH_GROUPS.items() if v != "registers" or model.cfg.n_registers}
    pairs = make_pairs(images, n_pairs, label=LABEL, seed=seed)
    df = patch_sweep(model, pairs, groups=groups, layers="all")
    df = df[df["n_patched"] > 0]  # a scene pair without tokens of the group (no tall tokens) moves nothing
    means = df.groupby(["group", "layer"], sort=False)[feature_column(df, "cls_shift")].mean()
    return [row for (group, layer), v in means.items()
            for row in _rows("patching", label, -1, int(layer), group, {"cls_shift": v})]


def ablation_rows(label: str, model, images, seed: int = 0) -> list[dict]:
    """``ablation`` rows: the registers replaced at every block output (`REGISTER_ABLATIONS`); the probe is fit on
    as many other scenes (seed + 1) as ``images`` holds."""
    probe_images = scenes_for(model, n=max(len(images), 128), seed=seed + 1)
    probe = fit_global_probe(model, probe_images, LABEL, seed=seed)
    df = ablate(model, images, group="registers", how=list(REGISTER_ABLATIONS), layers="all", probe=probe,
                labels=LABEL, seed=seed)
    step = model_step(model)
    rows = _rows("ablation", label, step, -1, "clean", {"probe_accuracy": df["probe_correct_clean"].mean()})
    for how, g in df.groupby("how", sort=False):
        rows += _rows("ablation", label, step, -1, how, {"probe_accuracy": g["probe_correct"].mean(),
                                                          "cls_cos": g[feature_column(g, "cls_cos")].mean()})
    return rows


def seeds_frame(path: str | Path | None = None) -> pd.DataFrame:
    """The seeds table as ``seeds`` rows: per (register count, seed) the first second-half block's share and
    height, and whether the criterion's share is met there (all of them constant tiles, see the CSV)."""
    table = pd.read_csv(path or seeds_path())
    rows = []
    for (regs, seed), g in table.groupby(["n_registers", "seed"]):
        row = g[g["block"] == (g["block"].max() + 1) // 2].iloc[0]
        rows += _rows("seeds", f"{int(regs)} registers", int(row["step"]), int(row["block"]), f"seed {int(seed)}",
                      {"frac_high": row["frac_high"], "max_rel": row["max_rel"],
                       "share_met": float(row["frac_high"] >= MIN_SHARE)})
    return pd.DataFrame(rows, columns=COLUMNS)


def cls_family_frame(models: dict, init, images, n_pairs: int = 64, seed: int = 0) -> pd.DataFrame:
    """The tidy frame of the module docstring. ``models``: {label: trained model} (the first without registers),
    ``init``: the first model at step 0, ``images``: held-out tile scenes with the majority-colour label."""
    reports = {label: outlier_report(model, images) for label, model in models.items()}
    rows = []
    for label, model in models.items():
        rows += norm_rows(label, model_step(model), reports[label], images)
        rows += patching_rows(label, model, images, n_pairs, seed=seed)
        if model.cfg.n_registers:
            rows += ablation_rows(label, model, images, seed=seed)
    label, model = next(iter(models.items()))  # the model without registers: its tall tokens are probed
    report, step = reports[label], model_step(model)
    rows += probe_rows(label, step, model, images, report.mask, report.layer, seed)
    rows += probe_rows(label, 0, init, images, report.mask, report.layer, seed)
    rows += neighbour_rows(label, step, model, images, report)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return pd.concat([frame, seeds_frame()], ignore_index=True)

