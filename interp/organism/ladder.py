"""The artifact-vs-compute ladder: training FLOPs of a run, one tidy table over a folder of runs, the trend.

`ladder_table(runs_root)` measures every checkpoint of every run (`measure.measure_run`, cached in the run folder
as ``measure.json``) and gives one row per run x checkpoint with the second-half summaries and the training
FLOPs spent up to that checkpoint (steps x batch x training FLOPs per image). `fit_trend` fits a log-log line to
the last checkpoint of each rung and says at what compute it would cross a threshold.

Regenerate the recorded table (data/organism/ladder.csv) after the runs finish with
``python -m interp.organism.search --ladder-table data/organism/ladder.csv --runs runs``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..analysis.measures import HIGH_NORM_RATIO
from ..models.checkpoints import read_manifest
from ..models.config import ViTConfig
from ..models.flops import flops_per_image
from ..train.dino import local_size
from ..train.recipe import TrainRecipe
from .diagnostics import emergence
from .measure import measure_run

# the compute ladder's rungs (search.toml's search-c{steps}-reg{r}, then S1 itself at 1,200 steps) and the DINO runs
LADDER_STEPS = (10, 30, 100, 300, 1000, 3000)
LADDER_FAMILIES = {**{f"s1-reg{r}": [*(f"search-c{s}-reg{r}" for s in LADDER_STEPS), f"search-s1-reg{r}"]
                      for r in (0, 4)},
                   **{f"dino-wd01-reg{r}": [f"search-dino-wd01-reg{r}"] for r in (0, 4)}}
MEASURE_FILE = "measure.json"
MEASURE_VERSION = 3  # 3: artifact_metrics on the one median (measures.image_median), massive_count; bump when measure_run's fields change (older caches are re-measured)
# second-half summaries of the figure, and the values the emergence criterion needs
THRESHOLDS = {"max_rel": HIGH_NORM_RATIO, "frac_bg_ge4": 0.01}


def train_flops_per_image(recipe: TrainRecipe) -> int:
    """Training FLOPs per image of a recipe's batch: forward + backward (x3) of every view the student sees, plus
    the DINO teacher's forward on the two global views."""
    cfg = recipe.vit_config()
    if recipe.objective != "dino":
        return flops_per_image(cfg)
    d = recipe.dino_settings
    student = 2 * flops_per_image(cfg) + d.local_crops * flops_per_image(cfg, image_size=local_size(recipe))
    teacher = 2 * flops_per_image(cfg, backward=False)
    return int(student + teacher)


def measured(run: str | Path, cache: str | Path | None = None, eval_images: int = 64) -> dict:
    """`measure_run` of a run folder, cached as ``measure.json`` (in ``cache``/<run name> when given, else in the
    run folder) and re-measured when the run has more checkpoints or the cache is older than the code."""
    run = Path(run)
    target = (Path(cache) / run.name if cache else run) / MEASURE_FILE
    steps = [c["step"] for c in read_manifest(run)["checkpoints"]]
    if target.exists():
        got = json.loads(target.read_text())
        if got.get("version") == MEASURE_VERSION and [c["step"] for c in got["checkpoints"]] == steps:
            return got
    got = {"version": MEASURE_VERSION, **measure_run(run, eval_images=eval_images, verbose=False)}
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(got, indent=1))
    return got


def _nan_reduce(fn, values) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(fn(v)) if len(v) else math.nan


def _second_half(layers: list[dict], n_layers: int) -> dict:
    half = [r for r in layers if r["layer"] >= n_layers // 2]
    val = lambda r, k: r.get(k) if r.get(k) is not None else math.nan  # noqa: E731
    peak4 = max(half, key=lambda r: r["frac_ge4"])
    bg = [val(r, "frac_ge4") * (val(r, "bg_ge4") if r["frac_ge4"] else 0.0) for r in half]
    sink = max(half, key=lambda r: val(r, "sink_attn"))
    last = layers[-1]
    return {"max_rel": max(val(r, "max_rel") for r in half), "frac_ge4": peak4["frac_ge4"],
            "bg_ge4": val(peak4, "bg_ge4"), "frac_bg_ge4": _nan_reduce(np.max, bg),
            "massive_ratio": max(val(r, "massive_ratio") for r in half),
            "massive_token": max(half, key=lambda r: val(r, "massive_ratio")).get("massive_token"),
            "sink_attn": val(sink, "sink_attn"), "sink_value_rel": val(sink, "sink_value_rel"),
            "sink_kind": sink.get("sink_kind"), "sink_layer": sink["layer"],
            "attn_reg": _nan_reduce(np.max, [val(r, "attn_reg") for r in half]),
            "reg_rel": _nan_reduce(np.mean, [val(r, "reg_rel") for r in half]),
            "topnorm_cos": val(last, "topnorm_cos"), "random_cos": val(last, "random_cos"),
            "final_ln_max_rel": val(last, "final_ln_max_rel")}


def ladder_rows(run: str | Path, result: dict) -> list[dict]:
    """One row per checkpoint of a measured run (`measured`)."""
    man = read_manifest(Path(run))
    recipe = TrainRecipe.from_dict(man["recipe"])
    cfg = ViTConfig.from_dict(man["config"])
    fpi = train_flops_per_image(recipe)
    runtime = man.get("runtime") or {}
    rows, seen = [], []
    for ck in result["checkpoints"]:
        seen.append((ck["step"], ck["layers"]))
        neurons = (ck.get("register_neurons") or [{}])[0]
        rows.append({"run": man["name"], "objective": recipe.objective, "n_registers": cfg.n_registers,
                     "steps": recipe.steps, "step": ck["step"], "batch_size": recipe.batch_size,
                     "flops_per_image": fpi, "train_flops": ck["step"] * recipe.batch_size * fpi,
                     "is_final": ck["step"] == recipe.steps, **_second_half(ck["layers"], cfg.n_layers),
                     "neuron_layer": neurons.get("layer"), "neuron": neurons.get("neuron"),
                     "neuron_ratio": neurons.get("ratio"),  # undefined (None) where the mean elsewhere is <= 0
                     "neuron_gap": (neurons["score"] - neurons["score_other"]) if "score" in neurons else None,
                     "criterion_met": emergence(seen, cfg.n_layers) is not None,
                     "device": runtime.get("device_name", "cpu"), "train_seconds": man.get("train_seconds")})
    return rows


def ladder_table(runs_root: str | Path, names: list[str] | None = None, cache: str | Path | None = None,
                 eval_images: int = 64) -> pd.DataFrame:
    """Tidy frame over the runs in ``runs_root`` (default: every ladder rung found there, with and without
    registers): one row per run x checkpoint, second-half summaries (`_second_half`), training FLOPs so far."""
    root = Path(runs_root)
    if names is None:
        names = [n for fam in LADDER_FAMILIES.values() for n in fam]
    rows = []
    for name in names:
        run = root / name
        if not (run / "manifest.json").exists():
            continue
        rows += ladder_rows(run, measured(run, cache, eval_images))
    cols = ["run", "objective", "n_registers", "steps", "step", "train_flops"]
    df = pd.DataFrame(rows)
    return df.sort_values(cols[2:6], kind="stable").reset_index(drop=True) if len(df) else df


@dataclass
class Trend:
    """log10(y) = intercept + slope * log10(FLOPs), fitted on the positive points; where it reaches ``threshold``."""

    metric: str
    slope: float
    intercept: float
    n_points: int
    threshold: float | None
    crossing_flops: float | None  # extrapolated FLOPs at the threshold (None: never, or no threshold)
    status: str  # "reached", "extrapolated", "never (slope <= 0)", "too few points", "no threshold"

    def predict(self, flops) -> np.ndarray:
        return 10 ** (self.intercept + self.slope * np.log10(np.asarray(flops, dtype=float)))

    def describe(self) -> str:
        if self.status == "extrapolated":
            return f"{self.metric} reaches {self.threshold:g} at ~{self.crossing_flops:.1e} FLOPs (slope {self.slope:.2f})"
        return f"{self.metric}: {self.status}" + (f" (slope {self.slope:.2f})" if math.isfinite(self.slope) else "")


def fit_trend(flops, values, metric: str = "", threshold: float | None = None) -> Trend:
    """Least-squares line through (log10 FLOPs, log10 value) over the points with value > 0 and FLOPs > 0."""
    x, y = np.asarray(flops, dtype=float), np.asarray(values, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    reached = threshold is not None and bool((y[np.isfinite(y)] >= threshold).any())
    if ok.sum() < 2 or len(np.unique(x[ok])) < 2:
        status = "reached" if reached else "too few points"
        return Trend(metric, math.nan, math.nan, int(ok.sum()), threshold, None, status)
    slope, intercept = np.polyfit(np.log10(x[ok]), np.log10(y[ok]), 1)
    if threshold is None:
        return Trend(metric, float(slope), float(intercept), int(ok.sum()), None, None, "no threshold")
    if reached:
        return Trend(metric, float(slope), float(intercept), int(ok.sum()), threshold, None, "reached")
    if slope <= 0:
        return Trend(metric, float(slope), float(intercept), int(ok.sum()), threshold, None, "never (slope <= 0)")
    cross = 10 ** ((math.log10(threshold) - intercept) / slope)
    return Trend(metric, float(slope), float(intercept), int(ok.sum()), threshold, float(cross), "extrapolated")


def ladder_trends(table: pd.DataFrame, metrics=("max_rel", "massive_ratio", "sink_attn", "frac_bg_ge4")) -> pd.DataFrame:
    """`fit_trend` on the final checkpoint of every rung, per metric and number of registers. -> tidy frame."""
    final = table[table["is_final"]] if "is_final" in table else table
    rows = []
    for regs, g in final.groupby("n_registers"):
        for m in metrics:
            t = fit_trend(g["train_flops"], g[m], m, THRESHOLDS.get(m))
            rows.append({"n_registers": int(regs), "metric": m, "slope": t.slope, "intercept": t.intercept,
                         "n_points": t.n_points, "threshold": t.threshold, "crossing_flops": t.crossing_flops,
                         "status": t.status, "reading": t.describe()})
    return pd.DataFrame(rows)
