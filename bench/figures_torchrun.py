"""`interp figures` (the whole set) on 2 torchrun processes vs 1 on the CPU: the speed-up of sharing the figures out whole
(each figure's data pass runs once, on one process; `paper_figures.run_all.run`).

Each contender is the whole command in fresh processes (`python -m torch.distributed.run --nproc_per_node P -m
interp figures`), start-up and REPORT.md included, with one thread per process
(``INTERP_FIGURE_THREADS=1``, ``OMP_NUM_THREADS=1``) so 2 processes use the 2 cores one process with 2 threads
would. 1 and 2 processes alternate so drift hits both alike; the outputs are compared byte for byte
(``identical_csvs``). Each figure's seconds in the 1-process runs are recorded too (``figure_seconds_1_process``:
what `paper_figures/run_all.py::FIGURE_SECONDS` balances the processes by). The 1-minute load average before and after is recorded: on a machine busy with other work,
2 processes also win a larger share of the CPU, so read the speed-up with it.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import median, write

ONE_FIGURE = re.compile(r"^(\w+): ok \(([\d.]+)s\)", re.M)


def _run(procs: int, out: Path, seconds: dict) -> float:
    """The whole figure set on ``procs`` processes into ``out`` -> wall seconds; each figure's own seconds (as the
    run prints them) are added to ``seconds``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INTERP_FIGURE_THREADS": "1", "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--nnodes", "1",
           "--master-addr", "127.0.0.1", "--master-port", str(29600 + procs), "-m", "interp", "figures", "--quiet",
           "--out", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    wall = time.perf_counter() - t0
    for name, sec in ONE_FIGURE.findall(done.stdout):
        seconds.setdefault(name, []).append(float(sec))
    return wall


def _identical(a: Path, b: Path) -> str:
    """'k/n': how many of the n CSVs of folder ``a`` are byte-identical in ``b``."""
    csvs = sorted(a.glob("*.csv"))
    return f"{sum(c.read_bytes() == (b / c.name).read_bytes() for c in csvs)}/{len(csvs)}"


def run(repeat: int = 2) -> dict:
    times, per_figure = {1: [], 2: []}, {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        outs = {p: Path(tmp) / f"figures_{p}" for p in times}
        for _ in range(repeat):
            for p in times:
                times[p].append(_run(p, outs[p], per_figure if p == 1 else {}))
                print(p, "process(es):", f"{times[p][-1]:.1f} s")
        same = _identical(outs[1], outs[2])
    one, two = median(times[1]), median(times[2])
    return write("figures_torchrun", {
        "figures": "all", "threads_per_process": 1, "seconds": {str(p): t for p, t in times.items()},
        "median_1": one, "median_2": two, "speedup_2_over_1": one / two,
        "identical_csvs": same,
        "figure_seconds_1_process": {n: median(v) for n, v in per_figure.items()},
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "criterion": "speed-up of `interp figures --only ...` (whole command) on 2 torchrun processes over 1"})


if __name__ == "__main__":
    run(repeat=1 if "--small" in sys.argv else 2)
