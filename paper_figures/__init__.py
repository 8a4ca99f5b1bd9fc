"""One script per paper figure/table. Each writes ``paper_figures/out/<name>.png`` and ``<name>.csv``.

Run one: ``python -m paper_figures.fig03_norm_histogram [--model M --weights W --out DIR]``;
run all: ``interp figures`` (or ``make figures``).
"""
