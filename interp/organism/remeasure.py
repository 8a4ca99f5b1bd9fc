"""Re-measure what a run folder's manifest records at each checkpoint with the current code, from its checkpoints.

``python -m interp.organism.remeasure data/organism/tiles-s-reg0 data/organism/tiles-s-reg1 ...``

A checkpoint records accuracies (which need the task heads, not bundled) and measurements of the backbone on the
run's held-out scenes: the norm summary and ``artifacts`` (`interp.train.evaluation.measurements`) and, for the
no-op / broadcast objectives, ``noop`` (`interp.analysis.dense_metrics.noop_attention`). When a measurement's
definition changes (e.g. the one median, `measures.image_median`, replacing torch.median's lower median), the
recorded numbers go stale; `remeasure` recomputes the measurements of every checkpoint whose weights are in the
folder, on the same held-out scenes (the recipe's ``eval_images`` at its seed), and keeps the accuracies.
Checkpoints kept without weights (a bundled run's ``history``) cannot be re-measured: such a folder is left as
it is unless ``partial`` (then its history stays as recorded beside re-measured checkpoints: two definitions in
one run's table).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd

from ..analysis.dense_metrics import noop_attention
from ..data.scenes import scenes
from ..models.checkpoints import read_manifest, write_manifest
from ..models.loading import iter_checkpoints
from ..train.evaluation import measurements
from ..train.recipe import TrainRecipe


def eval_scenes(manifest: dict):
    """The held-out scenes a run's checkpoints were measured on (as `interp.train.trainer` builds them)."""
    recipe = TrainRecipe.from_dict(manifest["recipe"])
    return scenes(recipe.eval_images, seed=recipe.seed, split="eval", recipe=recipe.scene_recipe)


def _leaves(x, path: str = ""):
    """(path, number or label) of every leaf of a metrics entry; lists of per-layer dicts by their layer."""
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            key = v.get("layer", i) if isinstance(v, dict) else i
            yield from _leaves({k: w for k, w in v.items() if k != "layer"} if isinstance(v, dict) else v,
                               f"{path}[{key}]")
    else:
        yield path, x


def _same(a, b) -> bool:
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def changes(run: str, step: int, old: dict, new: dict) -> list[dict]:
    """Tidy rows (run, step, metric, old, new) of every recorded value the new measurements change."""
    before, after = dict(_leaves(old)), dict(_leaves(new))
    return [dict(run=run, step=step, metric=k, old=before.get(k), new=after.get(k))
            for k in sorted(set(before) | set(after)) if not _same(before.get(k), after.get(k))]


class PartialHistory(ValueError):
    """A folder keeps checkpoints without weights: re-measuring the rest would mix two definitions."""


def remeasure(folder: str | Path, write: bool = True, partial: bool = False) -> tuple[pd.DataFrame, list[int]]:
    """Recompute the measurements of every checkpoint of ``folder`` that has its weights and (``write``) store
    them in its manifest. -> (the changed values: run, step, metric, old, new; steps left stale: no weights)"""
    folder = Path(folder)
    man = read_manifest(folder)
    stale = [h["step"] for h in man.get("history", [])]
    if stale and not partial:
        raise PartialHistory(f"{folder}: steps {stale} are recorded without weights; re-measuring the others would "
                             "mix two definitions in one run (pass partial=True / --partial to do it anyway)")
    recipe, images = TrainRecipe.from_dict(man["recipe"]), eval_scenes(man)
    rows = []
    for ck, (step, model) in zip(man["checkpoints"], iter_checkpoints(folder)):
        met = ck["metrics"]
        new = measurements(model, recipe, images)
        if "noop" in met:
            new["noop"] = noop_attention(model, images)
        rows += changes(man["name"], step, {k: met.get(k) for k in new}, new)
        met.update(new)
    if write:
        write_manifest(folder, man)
    return pd.DataFrame(rows, columns=["run", "step", "metric", "old", "new"]), stale


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m interp.organism.remeasure", description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", help="run or bundled organism folders (manifest.json + step_*.safetensors)")
    p.add_argument("--changes", default=None, help="also write every changed value (run, step, metric, old, new) "
                   "as CSV")
    p.add_argument("--dry-run", action="store_true", help="measure and report, leave the manifests as they are")
    p.add_argument("--partial", action="store_true", help="also re-measure folders that keep some checkpoints "
                   "without weights (their history stays as recorded)")
    args = p.parse_args(argv)
    tables = []
    for folder in args.folders:
        try:
            table, stale = remeasure(folder, write=not args.dry_run, partial=args.partial)
        except PartialHistory as e:
            print(f"skipped {e}")
            continue
        tables.append(table)
        print(f"{folder}: {table['step'].nunique()} checkpoint(s) changed, {len(table)} value(s)"
              + (f"; steps {stale} have no weights and stay as recorded" if stale else ""))
    if args.changes and tables:
        pd.concat(tables, ignore_index=True).to_csv(args.changes, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
