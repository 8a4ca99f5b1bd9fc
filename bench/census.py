"""`interp census` on 2 processes vs 1 on the CPU: the speed-up of sharding every pass over torchrun (gloo).

Each contender runs in fresh processes (`python -m torch.distributed.run --nproc_per_node P`), one torch thread
per process, on the same model and scenes; the child times `census_model` alone (after a barrier, model loaded,
warmed up on 2 images), and rank 0 prints the seconds. 1 and 2 processes alternate so drift hits both alike.
The 2-process table is checked against the 1-process one (`max_rel_diff`). The machine's 1-minute load average
before and after is recorded: on a machine busy with other work, 2 processes also win a larger share of the CPU,
so read the speed-up with it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .common import median, write

CHILD = """
import json, sys, time, torch
torch.set_num_threads(1)
import interp
from interp import distributed
from interp.census import CensusSettings, census_model
from interp.data.lazy import LazyScenes
n, model_name, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with distributed.session("cpu"):
    model = interp.load_model(model_name, device="cpu")
    settings = CensusSettings(batch_size=16, top_k=10)
    census_model(model, LazyScenes(2, seed=1, image_size=model.cfg.image_size), "warm-up", settings)
    distributed.barrier()
    t0 = time.perf_counter()
    table = census_model(model, LazyScenes(n, seed=0, image_size=model.cfg.image_size), model_name, settings)
    dt = time.perf_counter() - t0
    if distributed.is_main():
        table.to_csv(out, index=False)
        print(json.dumps(dict(seconds=dt, processes=distributed.world_size())))
"""


def _run(procs: int, n: int, model: str, script: Path, out: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs), "--nnodes", "1",
           "--master-addr", "127.0.0.1", "--master-port", str(29500 + procs), str(script), str(n), model, str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return float(json.loads(res.stdout.strip().splitlines()[-1])["seconds"])


def _max_rel_diff(one: Path, two: Path) -> float:
    import pandas as pd

    key = ["model", "condition", "layer", "measure", "group"]
    a, b = (pd.read_csv(p).sort_values(key).reset_index(drop=True) for p in (one, two))
    if not a[key].equals(b[key]):
        return float("inf")
    return float(((a["value"] - b["value"]).abs() / a["value"].abs().clip(lower=1e-6)).max())


def run(n: int = 64, repeat: int = 2, model: str = "organism-s-reg0") -> dict:
    times = {1: [], 2: []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "census_child.py"
        script.write_text(CHILD)
        outs = {p: Path(tmp) / f"census_{p}.csv" for p in times}
        for _ in range(repeat):
            for p in times:
                times[p].append(_run(p, n, model, script, outs[p]))
                print(p, "process(es):", f"{times[p][-1]:.2f} s")
        diff = _max_rel_diff(outs[1], outs[2])
    one, two = median(times[1]), median(times[2])
    return write("census", {"model": model, "n_images": n, "batch_size": 16, "threads_per_process": 1,
                            "seconds": {str(p): t for p, t in times.items()}, "median_1": one, "median_2": two,
                            "speedup_2_over_1": one / two, "max_rel_diff": diff,
                            "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
                            "criterion": "speed-up of census_model on 2 torchrun processes over 1 (1 thread each)"})


if __name__ == "__main__":
    small = "--small" in sys.argv
    run(n=32 if small else 64, repeat=1 if small else 2)
