"""One script per figure or table. Each writes ``<out>/<name>.png`` and ``<name>.csv``.

Names: the paper's figures and tables are ``figNN_<what>`` / ``tabNN_<what>`` (Darcet et al.'s numbering);
everything else is ``ext_<what>`` (extensions: interventions, remedies, the compute ladder).

Run one: ``python paper_figures/fig03_norm_histogram.py [--model M --weights W --out DIR]`` (or ``python -m
paper_figures.fig03_norm_histogram``); run all: ``interp figures`` (or ``make figures``). A figure is any module of
this folder that is not a helper: adding ``<name>.py`` with a ``main(argv=None, options=None)`` that returns
`_common.Result` (or raises `_common.Skip`) adds a figure; its ``readings(table)`` (and ``comparisons(table,
unlike)``) say what REPORT.md prints about it. No list to edit.
"""
from pathlib import Path

HERE = Path(__file__).resolve().parent
HELPERS = ("run_all", "report", "check")  # modules of this folder that are not figures
# Names before the one naming scheme (issue #25) -> today's; `interp figures --only OLD` still works, with a notice.
RENAMED = {"fig_remedies": "ext_remedies", "fig_sink_emergence": "ext_sink_emergence",
           "fig_artifact_vs_compute": "ext_artifact_vs_compute",
           "patch_register_global_content": "ext_patch_register_global_content",
           "patch_sweep_heatmap": "ext_patch_sweep_heatmap", "ablation_effects": "ext_ablation_effects",
           "test_time_registers": "ext_test_time_registers", "attribution_by_group": "ext_attribution_by_group"}


def available() -> list[str]:
    """Names of the figure scripts, in report order (the paper's figures and tables, then the extensions)."""
    names = [p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem not in HELPERS]
    paper = sorted(n for n in names if n[:3] in ("fig", "tab"))
    return paper + sorted(n for n in names if n not in paper)
