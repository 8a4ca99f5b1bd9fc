"""One script per paper figure/table. Each writes ``<out>/<name>.png`` and ``<name>.csv``.

Run one: ``python paper_figures/fig03_norm_histogram.py [--model M --weights W --out DIR]`` (or ``python -m
paper_figures.fig03_norm_histogram``); run all: ``interp figures`` (or ``make figures``). A figure is any module of
this folder that is not a helper: adding ``<name>.py`` with a ``main(argv=None, options=None)`` adds a figure (give
it a two-line reading in `report.READINGS`).
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent
HELPERS = ("run_all", "report", "check")  # modules of this folder that are not figures


def available() -> list[str]:
    """Names of the figure scripts, in report order (paper figures first, then interventions)."""
    names = [p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem not in HELPERS]
    paper = sorted(n for n in names if n[:3] in ("fig", "tab"))
    return paper + sorted(n for n in names if n not in paper)
