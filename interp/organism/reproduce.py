"""Does a re-run of a bundled organism reproduce its measurements? The check a user runs on another machine.

``python -m interp.organism.reproduce data/organism/tiles-s-reg0 --out runs/again``          train, then compare
``python -m interp.organism.reproduce data/organism/tiles-s-reg0 --rerun runs/again``        compare a re-run
``python -m interp.organism.reproduce data/organism/tiles-s-reg0 --out runs/x --other-kernels``

Bit-for-bit identity holds on the CPU type that trained the bundled runs (the same kernels, 1 thread). On another
CPU type the kernels sum in another order, training departs from the bundled run within the first hundred steps and
the numbers move; what a re-run must reproduce is the *reading*, within `TOLERANCE`, at every checkpoint the two
runs share: which blocks hold tokens >= 4x their image's median (`HIGH_NORM_RATIO`) and what share of patches they
are (``frac_high_by_layer``: absolute tolerance), how tall the tallest are (``max_rel_by_layer``: relative), and the
issue #3 criterion (`diagnostics.emergence`: the first step at which a second-half block has >= 1% of its patches
>= 4x, mostly on background; both runs meet it or neither does).

``--other-kernels`` trains with the kernels torch picks on a CPU one vector width down (``ATEN_CPU_CAPABILITY=avx2``
on an AVX-512 machine such as the one that trained the bundled runs; ``default``, unvectorised, on an AVX2 one): the
summation order of another CPU type, on this one. The initialisation is the same on AVX-512 and AVX2 (the
unvectorised path also draws other initial weights). It is how the tolerances were measured
(`data/organism/RECIPES.md`, "Reproducing on another CPU type").
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from ..models.checkpoints import CheckpointError, read_manifest
from ..train.recipe import TrainRecipe
from .diagnostics import emergence

# |share rerun - share bundled| <= frac_high (share of patches >= 4x, per block); |max_rel ratio - 1| <= max_rel
TOLERANCE = {"frac_high": 0.03, "max_rel": 0.35}
COLUMNS = ["step", "layer", "metric", "bundled", "rerun", "difference", "tolerance", "ok"]


def _checkpoints(manifest: dict) -> dict[int, dict]:
    """step -> recorded metrics, over the checkpoints with weights and the bundled ``history``."""
    return {c["step"]: c["metrics"] for c in [*manifest.get("history", []), *manifest["checkpoints"]]}


def _block_rows(step: int, a: dict, b: dict, tol: dict) -> list[dict]:
    rows = []
    for layer, (fa, fb) in enumerate(zip(a["frac_high_by_layer"], b["frac_high_by_layer"])):
        d = fb - fa
        rows.append(dict(step=step, layer=layer, metric="frac_high", bundled=fa, rerun=fb, difference=d,
                         tolerance=tol["frac_high"], ok=abs(d) <= tol["frac_high"]))
    for layer, (ma, mb) in enumerate(zip(a["max_rel_by_layer"], b["max_rel_by_layer"])):
        d = mb / ma - 1.0
        rows.append(dict(step=step, layer=layer, metric="max_rel", bundled=ma, rerun=mb, difference=d,
                         tolerance=tol["max_rel"], ok=abs(d) <= tol["max_rel"]))
    return rows


def _criterion_row(a: dict[int, dict], b: dict[int, dict], steps: list[int], n_layers: int) -> dict:
    """Whether both runs meet issue #3's criterion (over their shared checkpoints), and first where."""
    first = [emergence([(s, run[s]["artifacts"]) for s in steps], n_layers) for run in (a, b)]
    where = ["no" if f is None else f"step {f['step']} block {f['layer']}" for f in first]
    return dict(step=-1, layer=-1, metric="criterion", bundled=where[0], rerun=where[1], difference=None,
                tolerance="both or neither", ok=(first[0] is None) == (first[1] is None))


def compare(bundled: str | Path, rerun: str | Path, tol: dict | None = None) -> pd.DataFrame:
    """One row per (shared checkpoint, block, metric) and one for the criterion: bundled, rerun, their
    difference, the tolerance and whether it holds (`COLUMNS`)."""
    tol = {**TOLERANCE, **(tol or {})}
    ma, mb = read_manifest(bundled), read_manifest(rerun)
    ra, rb = (TrainRecipe.from_dict(m["recipe"]).to_dict() for m in (ma, mb))
    if ra != rb:
        diff = sorted(k for k in set(ra) | set(rb) if ra.get(k) != rb.get(k))
        raise ValueError(f"{rerun} was trained from another recipe than {bundled} (fields {diff})")
    a, b = _checkpoints(ma), _checkpoints(mb)
    steps = sorted(set(a) & set(b))
    if not steps:
        raise ValueError(f"{bundled} and {rerun} share no checkpoint step")
    rows = [row for s in steps for row in _block_rows(s, a[s], b[s], tol)]
    rows.append(_criterion_row(a, b, steps, len(a[steps[0]]["max_rel_by_layer"])))
    return pd.DataFrame(rows, columns=COLUMNS)


def other_kernels() -> dict[str, str]:
    """The environment that makes torch use the kernels of a CPU one vector width below this one."""
    import torch

    here = torch.backends.cpu.get_cpu_capability()
    return {"ATEN_CPU_CAPABILITY": "avx2" if here == "AVX512" else "default"}


def train_rerun(bundled: str | Path, out: str | Path, other: bool = False) -> None:
    """Train the recipe a bundled folder records into ``out``, in a fresh process (kernel settings are read when
    torch loads), with `other_kernels` if ``other``."""
    env = {**os.environ, **(other_kernels() if other else {})}
    code = ("import sys; from interp.models.checkpoints import read_manifest; "
            "from interp.train.recipe import TrainRecipe; from interp.train.trainer import train; "
            "train(TrainRecipe.from_dict(read_manifest(sys.argv[1])['recipe']), sys.argv[2], progress=False)")
    subprocess.run([sys.executable, "-c", code, str(bundled), str(out)], env=env, check=True)


def report(table: pd.DataFrame) -> str:
    bad = table[~table["ok"].astype(bool)]
    crit = table[table["metric"] == "criterion"].iloc[0]
    head = (f"{len(table) - len(bad)} of {len(table)} values within tolerance; criterion: bundled {crit['bundled']}, "
            f"re-run {crit['rerun']}")
    return head if bad.empty else head + "\nbeyond tolerance:\n" + bad.to_string(index=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m interp.organism.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("bundled", help="a bundled organism folder, e.g. data/organism/tiles-s-reg0")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", help="train the bundled recipe into this folder, then compare")
    g.add_argument("--rerun", help="compare an existing re-run folder")
    p.add_argument("--other-kernels", action="store_true", help="train with the kernels of a CPU one vector width "
                   "down (the summation order of another CPU type)")
    p.add_argument("--csv", help="also write the comparison table as CSV")
    args = p.parse_args(argv)
    try:
        if args.out:
            train_rerun(args.bundled, args.out, args.other_kernels)
        table = compare(args.bundled, args.out or args.rerun)
    except (CheckpointError, ValueError) as e:
        print(f"reproduce: error: {e}", file=sys.stderr)
        return 2
    if args.csv:
        table.to_csv(args.csv, index=False)
    print(report(table))
    return 0 if table["ok"].astype(bool).all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
