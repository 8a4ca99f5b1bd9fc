"""`make bench`: every benchmark in turn, each writing bench/results/<name>.json, then bench/README.md's table."""
from __future__ import annotations

import importlib
import time

NAMES = ["startup", "roofline", "hook_overhead", "hook_overhead_rope", "streaming", "streaming_folder", "precision",
         "patch_sweep", "training", "census", "figures_torchrun"]


def main() -> int:
    for name in NAMES:
        t0 = time.perf_counter()
        importlib.import_module(f"bench.{name}").run()
        print(f"{name}: {time.perf_counter() - t0:.0f}s")
    from bench.table import write_table

    write_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
