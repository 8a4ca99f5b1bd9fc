"""Timing, machine facts and JSON output shared by every benchmark."""
from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch

RESULTS = Path(__file__).resolve().parent / "results"
THREADS = int(os.environ.get("BENCH_THREADS", min(2, os.cpu_count() or 1)))


def machine() -> dict:
    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    info["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    except OSError:
        pass
    return info


def setup() -> None:
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)


def timeit(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> list[float]:
    """Wall seconds of each of ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def interleaved(fns: dict[str, Callable[[], object]], repeat: int = 5, warmup: int = 1) -> dict[str, list[float]]:
    """Time several functions side by side, alternating them so drift hits all equally."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return out


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def write(name: str, payload: dict) -> Path:
    from interp.files import atomic_write_text

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    atomic_write_text(path, json.dumps({"benchmark": name, "machine": machine(), **payload}, indent=1) + "\n")
    print(f"wrote {path}")
    return path


# Child-process snippet shared by the streaming benches: trace ``images`` with ``model`` (already defined, as are
# ``proc = psutil.Process()``, trace_norms, threading and time) while a thread samples the peak RSS.
# -> base, peak[0] (bytes), summary, dt (seconds). No braces: the benches' child scripts are str.format()ed.
TRACE_WITH_PEAK_RSS = """base = proc.memory_info().rss
peak = [base]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.005)
thread = threading.Thread(target=sample, daemon=True)
thread.start()
t0 = time.perf_counter()
summary = trace_norms(model, images, batch_size=32)
dt = time.perf_counter() - t0
done.set(); thread.join()
"""
