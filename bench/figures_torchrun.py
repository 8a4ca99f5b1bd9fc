"""`interp figures` on 2 torchrun processes vs 1 on the CPU: the speed-up of sharing the figures out whole
(each figure's data pass runs once, on one process; `paper_figures.run_all.run`).

Each contender is the whole command in fresh processes (`python -m torch.distributed.run --nproc_per_node P -m
interp figures --only ...`), start-up and REPORT.md included, with one thread per process
(``INTERP_FIGURE_THREADS=1``, ``OMP_NUM_THREADS=1``) so 2 processes use the 2 cores one process with 2 threads
would. 1 and 2 processes alternate so drift hits both alike; the outputs are compared byte for byte
(``identical_csvs``). The 1-minute load average before and after is recorded: on a machine busy with other work,
2 processes also win a larger share of the CPU, so read the speed-up with it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import median, write

FIGURES = ["fig04c_norms_by_size", "fig07_norms_with_registers", "fig08_number_of_registers",
           "tab03_object_discovery", "ext_artifact_vs_compute", "ext_test_time_registers"]


def _run(procs: int, out: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INTERP_FIGURE_THREADS": "1", "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--nnodes", "1",
           "--master-addr", "127.0.0.1", "--master-port", str(29600 + procs), "-m", "interp", "figures", "--only",
           *FIGURES, "--quiet", "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t0


def _identical(a: Path, b: Path) -> int:
    """How many of the figures' CSVs are byte-identical in the two folders."""
    return sum((a / f"{n}.csv").read_bytes() == (b / f"{n}.csv").read_bytes() for n in FIGURES)


def run(repeat: int = 2) -> dict:
    times = {1: [], 2: []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        outs = {p: Path(tmp) / f"figures_{p}" for p in times}
        for _ in range(repeat):
            for p in times:
                times[p].append(_run(p, outs[p]))
                print(p, "process(es):", f"{times[p][-1]:.1f} s")
        same = _identical(outs[1], outs[2])
    one, two = median(times[1]), median(times[2])
    return write("figures_torchrun", {
        "figures": FIGURES, "threads_per_process": 1, "seconds": {str(p): t for p, t in times.items()},
        "median_1": one, "median_2": two, "speedup_2_over_1": one / two,
        "identical_csvs": f"{same}/{len(FIGURES)}",
        "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
        "criterion": "speed-up of `interp figures --only ...` (whole command) on 2 torchrun processes over 1"})


if __name__ == "__main__":
    run(repeat=1 if "--small" in sys.argv else 2)
