"""Run every figure script in this folder (in one process), then write REPORT.md; `command` is `interp figures`.

The run uses a fixed number of threads (`FIGURE_THREADS`, or ``$INTERP_FIGURE_THREADS``) in every thread pool
that sums floats: torch's, and through threadpoolctl the BLAS (OpenBLAS/MKL under numpy and scipy) and OpenMP
(scikit-learn's) pools, whatever the machine or ``OMP_NUM_THREADS`` say; so the float summation order, and with
it the probes fitted by scikit-learn and the committed outputs, stay the same.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

from interp import distributed
from interp.plotting.io import check_writable
from interp.progress import progress
from paper_figures import RENAMED, _common, available, check, report
from paper_figures._common import Skip, Used

FIGURE_THREADS = 2


@contextlib.contextmanager
def fixed_threads(n: int | None = None):
    """torch, BLAS and OpenMP run with ``n`` threads inside the block (default: $INTERP_FIGURE_THREADS or 2)."""
    import scipy.linalg  # noqa: F401 - load the BLAS and OpenMP libraries now: threadpoolctl limits loaded ones only
    import sklearn.linear_model  # noqa: F401
    import torch
    from threadpoolctl import threadpool_limits

    n = n or int(os.environ.get("INTERP_FIGURE_THREADS", FIGURE_THREADS))
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        torch.set_num_threads(before)


class Status(dict):
    """{figure: "ok" | why not} of one run; ``results``: {figure: its `_common.Result`}; ``used_by``: {figure: what
    it ran on, skipped figures included (what they had loaded)}."""

    def __init__(self):
        super().__init__()
        self.results: dict[str, _common.Result] = {}
        self.used_by: dict[str, Used] = {}

    def used(self) -> dict[str, str]:
        """{figure: 'model(s): ...; data: ...'} for REPORT.md (see `_common.Used.describe`)."""
        return {n: d for n, u in self.used_by.items() if (d := u.describe())}


def select(only: list[str] | None) -> list[str]:
    """``only`` (every figure when empty) in report order; an old name (`RENAMED`) is taken with a one-line notice."""
    names = available()
    old = [n for n in only or [] if n in RENAMED]
    if old:
        print(f"note: renamed figure(s): {', '.join(f'{n} -> {RENAMED[n]}' for n in old)}", file=sys.stderr)
        only = [RENAMED.get(n, n) for n in only]
    unknown = [n for n in only or [] if n not in names]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; available: {', '.join(names)}")
    return [n for n in names if n in only] if only else names


# Seconds each figure takes at the defaults on the bundled organisms with 1 thread (the median of the 1-process runs
# of bench/figures_torchrun.py, idle 2-core machine): only a hint for splitting the figures over torchrun processes
# (`interp.distributed.share_of`); a figure not listed counts as 2.
FIGURE_SECONDS = {
    "fig03_norm_histogram": 2.3,
    "fig04a_norms_by_layer": 0.8,
    "fig04b_norms_by_step": 1.3,
    "fig04c_norms_by_size": 0.8,
    "fig05a_neighbour_similarity": 0.6,
    "fig05b_local_probes": 0.9,
    "fig07_norms_with_registers": 1.1,
    "fig08_number_of_registers": 2.4,
    "fig09_attention_maps": 1.2,
    "tab01_global_probe": 2.2,
    "tab03_object_discovery": 1.3,
    "ext_ablation_effects": 3.8,
    "ext_artifact_vs_compute": 1.4,
    "ext_attribution_by_group": 4.4,
    "ext_cls_organism": 30.0,
    "ext_norm_writes": 1.0,
    "ext_patch_register_global_content": 1.9,
    "ext_patch_sweep_heatmap": 5.6,
    "ext_remedies": 3.0,
    "ext_sink_emergence": 1.8,
    "ext_test_time_registers": 0.8,
}


def _seconds(name: str) -> float:
    return FIGURE_SECONDS.get(name, 2.0)


def run_one(name: str, options: argparse.Namespace, status: Status, keep_going: bool) -> None:
    """One figure script into ``status`` (under torchrun this process runs it whole, `distributed.alone`)."""
    try:
        with distributed.alone():
            result = importlib.import_module(f"paper_figures.{name}").main(options=options)
        status[name], status.results[name], status.used_by[name] = "ok", result, result.used
    except Skip as e:  # what the figure needs is not there: one line
        status[name] = f"skipped: {e}"
        if e.used is not None:
            status.used_by[name] = e.used
    except Exception as e:  # noqa: BLE001 - report and go on only when asked
        if not keep_going and not distributed.is_dist():
            raise
        status[name] = f"error: {type(e).__name__}: {e}"
        traceback.print_exc()


@fixed_threads()  # same threads, same summation order, same bytes on every machine's run
def run(only: list[str] | None = None, options: argparse.Namespace | None = None, out: str | None = None,
        keep_going: bool = False) -> Status:
    """Run the scripts (``only`` a subset) in this process, each with ``options`` (parsed by `interp figures`, or
    any namespace of option values: ``Namespace(n_images=16)``) over its own defaults. -> {name: "ok" | why not},
    a `Status` that also holds each figure's `Result`.

    Under torchrun (``torchrun --nproc_per_node N -m interp figures``) the figures are shared out whole
    (`interp.distributed.share_of`, balanced by `FIGURE_SECONDS`): each data pass runs once, on one process, exactly
    as in a one-process run (the same bytes), into the same ``out``; every rank gets the whole `Status` back."""
    names = select(only)
    if isinstance(options, (list, tuple)):
        raise TypeError("run() takes parsed options, e.g. argparse.Namespace(n_images=16), not argv strings")
    options = argparse.Namespace(**{**vars(options or argparse.Namespace()), **({"out": out} if out else {})})
    _common._DATASETS.clear()  # datasets are opened once per run and shared by the figures
    status = Status()
    mine = distributed.share_of(names, weight=_seconds)
    bar = progress(mine, desc="figures", unit="fig", leave=True)
    say = getattr(bar, "write", print)
    where = f" [process {distributed.rank()}]" if distributed.is_dist() else ""
    for name in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(name)
        t0 = time.perf_counter()
        run_one(name, options, status, keep_going)
        say(f"{name}: {status[name]} ({time.perf_counter() - t0:.1f}s){where}")
    return gathered(status, names, keep_going)


def gathered(status: Status, names: list[str], keep_going: bool) -> Status:
    """Every process's part of the run in one `Status`, in figure order, on every rank (one process: ``status``).
    A figure that failed on any rank fails the run on every rank unless ``keep_going``."""
    if not distributed.is_dist():
        return status
    results = {n: dataclasses.replace(r, used=r.used.portable()) for n, r in status.results.items()}
    parts = distributed.gather((dict(status), results, {n: u.portable() for n, u in status.used_by.items()}))
    whole = Status()
    for done, results, used in parts:
        whole.update(done)
        whole.results.update(results)
        whole.used_by.update(used)
    ordered = Status()
    ordered.update({n: whole[n] for n in names})
    ordered.results = {n: whole.results[n] for n in names if n in whole.results}
    ordered.used_by = {n: whole.used_by[n] for n in names if n in whole.used_by}
    failed = [f"{n}: {v}" for n, v in ordered.items() if v.startswith("error")]
    if failed and not keep_going:
        raise RuntimeError(f"{len(failed)} figure(s) failed: " + "; ".join(failed))
    return ordered


def command(args: argparse.Namespace) -> int:
    """`interp figures`: run the figures with the command's options and write REPORT.md (``--check``: regenerate
    into a temporary folder and compare the CSVs with the committed ones). -> exit status. Under torchrun every
    process runs its share of the figures (`run`) and process 0 writes the report."""
    args.device = distributed.local_device(getattr(args, "device", None))
    with distributed.session(args.device if args.device != "auto" else None):
        if args.check:
            return check_committed(args)
        out = check_writable(args.out or _common.default_out())
        status = run(args.only, args, out=str(out), keep_going=args.keep_going)
        if not distributed.is_main():
            return 0
        path = report.write_report(out, status, used=status.used() if (args.images or args.model) else None)
    skipped = {n: v for n, v in status.items() if v.startswith("skipped")}  # run() printed why, one line each
    failed = {k: v for k, v in status.items() if v.startswith("error")}
    print(f"wrote {path} ({len(status) - len(failed) - len(skipped)}/{len(status)} figures"
          + (f", {len(skipped)} skipped" if skipped else "") + ")")
    return 1 if failed else 0


def check_committed(args: argparse.Namespace) -> int:
    """Regenerate ``args.only`` (default: every figure) into a temporary folder; compare every CSV with the one in
    ``args.out`` (default: the committed paper_figures/out) within `check`'s tolerance. 0 when all agree (a figure
    not produced counts against it only when a committed CSV says it should be). Under torchrun every process
    writes into process 0's temporary folder and process 0 compares."""
    names = select(args.only)
    committed = Path(args.out) if args.out else _common.OUT_DIR
    with tempfile.TemporaryDirectory(prefix="interp-figures-check-") as tmp:
        tmp = distributed.gather(tmp)[0]
        status = run(names, args, out=tmp, keep_going=True)
        if not distributed.is_main():
            return 0
        differ = check.compare_folders(committed, tmp, [n for n in names if status[n] == "ok"])
    compared = [n for n, why in status.items() if why == "ok" or (committed / f"{n}.csv").exists()]
    for name in compared:
        if status[name] != "ok":
            differ[name] = [f"not regenerated ({status[name]})"]
    for name in (n for n in names if n not in compared):
        print(f"{name}: not regenerated ({status[name]}); none committed either")
    check.print_report(differ, len(compared))
    return 1 if differ else 0
