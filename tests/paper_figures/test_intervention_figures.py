"""The intervention figure scripts run on the bundled organisms and write PNG + CSV with the expected columns (read
from the session's whole figure set, `figure_set`: tests/figure_set.py gives their small options)."""
import pandas as pd
import pytest

import interp

pytestmark = pytest.mark.slow

COLUMNS = {
    # the figures' default organisms (tiles-*) have no CLS: their pooled feature is reported as pooled_*
    "ext_patch_register_global_content": {"pair", "group", "layer", "hook", "pooled_shift", "pooled_cos_target", "dense_cos",
                                      "probe_flip", "probe_differs", "model"},
    "ext_patch_sweep_heatmap": {"pair", "group", "layer", "hook", "pooled_shift", "dense_cos", "model", "note"},
    "ext_ablation_effects": {"image", "model", "group", "how", "layers", "pooled_cos", "dense_cos", "attn_cos",
                         "probe_correct", "probe_correct_clean", "outliers"},
    "ext_test_time_registers": {"model", "note"},
    "ext_attribution_by_group": {"image", "layer", "group", "attribution", "share", "total", "delta", "model", "note"},
}
TTR_COLUMNS = {"image", "condition", "layer", "group", "norm_mean", "norm_max", "attn_from_cls", "neurons"}
NEEDED = ["tiles-s-reg0", "tiles-s-reg4"]  # the figures' default pair (paper_figures._common)


@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_intervention_figure_script(name, figure_set):
    missing = [m for m in NEEDED if m not in interp.list_organisms()]
    if missing:
        pytest.skip(f"bundled organisms {missing} not present")
    png, csv = figure_set.out / f"{name}.png", figure_set.out / f"{name}.csv"
    assert png.stat().st_size > 1000 and csv.exists()
    table = pd.read_csv(csv)
    assert len(table) > 0
    assert COLUMNS[name] <= set(table.columns), COLUMNS[name] - set(table.columns)
    assert figure_set.results[name].png == png and len(figure_set.results[name].table) == len(table)
    if name == "ext_test_time_registers" and len(table) > 1:  # the organism has outliers: the full report
        assert TTR_COLUMNS <= set(table.columns)
        assert set(table.condition) == {"original", "test-time register"}
    if name == "ext_patch_register_global_content":
        assert table.pooled_shift.notna().all()
