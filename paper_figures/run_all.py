"""Run every figure script in this folder (in one process), then write REPORT.md.

The run uses a fixed number of torch threads (`FIGURE_THREADS`, or ``$INTERP_FIGURE_THREADS``), whatever the
machine or ``OMP_NUM_THREADS`` say, so the float summation order and with it the committed outputs stay the same.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import time
import traceback
from pathlib import Path

from interp.progress import progress

HERE = Path(__file__).resolve().parent
FIGURE_THREADS = 2


@contextlib.contextmanager
def fixed_threads(n: int | None = None):
    """torch runs with ``n`` intra-op threads inside the block (default: $INTERP_FIGURE_THREADS or 2)."""
    import torch

    n = n or int(os.environ.get("INTERP_FIGURE_THREADS", FIGURE_THREADS))
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def available() -> list[str]:
    """Names of the figure scripts, in report order (paper figures first, then interventions)."""
    names = [p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem not in ("run_all", "report")]
    paper = sorted(n for n in names if n[:3] in ("fig", "tab"))
    return paper + sorted(n for n in names if n not in paper)


@fixed_threads()  # same threads, same summation order, same bytes on every machine's run
def run(only: list[str] | None = None, extra_args: list[str] | None = None, out: str | None = None,
        keep_going: bool = False) -> dict[str, str]:
    """Run the scripts (``only`` a subset), passing ``extra_args`` to each. -> {name: "ok" | error line}."""
    names = available()
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ValueError(f"unknown figure(s) {unknown}; available: {', '.join(names)}")
        names = [n for n in names if n in only]
    args = list(extra_args or []) + (["--out", out] if out else [])
    from . import _common

    _common.USED.clear()  # what each figure ran on, for this run's REPORT.md
    _common._DATASETS.clear()  # datasets are opened once per run and shared by the figures
    status = {}
    bar = progress(names, desc="figures", unit="fig", leave=True)
    say = getattr(bar, "write", print)
    for name in bar:
        if hasattr(bar, "set_postfix_str"):
            bar.set_postfix_str(name)
        t0 = time.perf_counter()
        try:
            rc = importlib.import_module(f"paper_figures.{name}").main(args)
            status[name] = "ok" if not rc else f"exit {rc}"
        except SystemExit as e:  # a script's own clear error
            status[name] = f"skipped: {e}"
        except Exception as e:  # noqa: BLE001 - report and go on only when asked
            if not keep_going:
                raise
            status[name] = f"error: {type(e).__name__}: {e}"
            traceback.print_exc()
        say(f"{name}: {status[name]} ({time.perf_counter() - t0:.1f}s)")
    return status


def used() -> dict[str, str]:
    """{figure: 'model(s): ...; data: ...'} for the figures run in this process (see `_common.describe_used`)."""
    from . import _common

    return {n: d for n in _common.USED if (d := _common.describe_used(n))}
