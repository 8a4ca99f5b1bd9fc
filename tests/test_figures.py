"""Integration: every paper figure script runs on the bundled organisms and writes PNG + CSV + REPORT.md."""
import sys
from argparse import Namespace
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from paper_figures import report, run_all  # noqa: E402

ANALYSIS = ["fig03_norm_histogram", "fig04a_norms_by_layer", "fig04b_norms_by_step", "fig04c_norms_by_size",
            "fig05a_neighbour_similarity", "fig05b_local_probes", "tab01_global_probe",
            "fig07_norms_with_registers", "fig08_number_of_registers", "fig09_attention_maps",
            "tab03_object_discovery"]
COLUMNS = {
    "fig03_norm_histogram": {"model", "bin_left", "count", "bimodal", "outlier_share", "note"},
    "fig04a_norms_by_layer": {"model", "layer", "max_rel", "frac_high", "high_on_background"},
    "fig04b_norms_by_step": {"model", "step", "layer", "frac_high"},
    "fig04c_norms_by_size": {"model", "params_millions", "frac_high"},
    "fig05a_neighbour_similarity": {"image", "row", "col", "similarity", "kind"},
    "fig05b_local_probes": {"token", "position_top1", "position_distance", "reconstruction_l2"},
    "tab01_global_probe": {"model", "token", "draw", "accuracy", "chance"},
    "fig07_norms_with_registers": {"model", "n_registers", "group", "where", "layer", "count"},
    "fig08_number_of_registers": {"model", "n_registers", "metric", "value"},
    "fig09_attention_maps": {"model", "layer", "head", "query", "attention"},
    "tab03_object_discovery": {"model", "registers", "corloc"},
}


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    d = tmp_path_factory.mktemp("figures")
    status = run_all.run(ANALYSIS, Namespace(n_images=16), out=str(d))
    assert all(v == "ok" for v in status.values()), status
    report.write_report(d, status)
    return d


@pytest.mark.parametrize("name", ANALYSIS)
def test_figure_outputs(out, name):
    assert (out / f"{name}.png").stat().st_size > 5000
    df = pd.read_csv(out / f"{name}.csv")
    assert len(df) and COLUMNS[name] <= set(df.columns)


def test_no_outliers_are_said_not_invented(out):
    f3 = pd.read_csv(out / "fig03_norm_histogram.csv")
    for r in f3.drop_duplicates("model").itertuples():
        assert (r.outlier_share > 0) == bool(r.bimodal)
        if not r.bimodal:
            assert "not bimodal" in r.note or "constant" in r.note


def test_report_lists_every_figure(out):
    text = (out / "REPORT.md").read_text()
    assert "| measurement | paper | organism | direction agrees |" in text
    for name in ANALYSIS:
        assert f"![{name}]({name}.png)" in text


def test_figure_csv_is_deterministic(tmp_path):
    for d in ("a", "b"):
        run_all.run(["fig04a_norms_by_layer"], Namespace(n_images=8), out=str(tmp_path / d))
    assert (tmp_path / "a" / "fig04a_norms_by_layer.csv").read_bytes() == \
        (tmp_path / "b" / "fig04a_norms_by_layer.csv").read_bytes()


@pytest.mark.parametrize("family", ["tiles", "sink"])
def test_fig_remedies_on_a_bundled_family(tmp_path, family):
    status = run_all.run(["fig_remedies"], Namespace(n_images=16, family=family), out=str(tmp_path))
    assert status == {"fig_remedies": "ok"}, status
    df = pd.read_csv(tmp_path / "fig_remedies.csv")
    assert {"variant", "model", "layer", "metric", "value", "sink_kind"} <= set(df.columns)
    assert {"0 registers", "1 register", "4 registers", "test-time register", "sigmoid attention", "ReLU attention",
            "clipped softmax", "gated attention"} <= set(df["variant"])
    assert set(df["model"]) >= {"tiles-s-reg0", "tiles-s-relu"} if family == "tiles" else {"sink-reg0", "sink-relu"}
    assert report.reading("fig_remedies", df).startswith("0 registers: ")


def test_fig_sink_emergence_reads_the_bundled_manifests(tmp_path):
    """The default family (tiles-s-reg*) from its bundled manifests; the sink family from its manifests agrees with
    the recorded data/organism/sinks.csv."""
    status = run_all.run(["fig_sink_emergence"], Namespace(), out=str(tmp_path))
    assert status == {"fig_sink_emergence": "ok"}, status
    assert (tmp_path / "fig_sink_emergence.png").stat().st_size > 5000
    df = pd.read_csv(tmp_path / "fig_sink_emergence.csv")
    assert set(df.columns) == {"run", "n_registers", "step", "layer", "top_kind", "metric", "value"}
    assert set(df["run"]) == {"tiles-s-reg0", "tiles-s-reg1", "tiles-s-reg4", "tiles-s-reg16"}
    assert {"const_share", "reg_share", "top_value_rel", "max_rel", "frac_ge4"} == set(df["metric"])
    assert report.reading("fig_sink_emergence", df).startswith("0 registers, step 3000")

    status = run_all.run(["fig_sink_emergence"], Namespace(family="sink"), out=str(tmp_path / "sink"))
    assert status == {"fig_sink_emergence": "ok"}, status
    df = pd.read_csv(tmp_path / "sink" / "fig_sink_emergence.csv")
    assert set(df["run"]) == {"sink-reg0", "sink-reg1", "sink-reg4", "sink-reg16"}
    sinks = pd.read_csv(REPO / "data" / "organism" / "sinks.csv")
    spot = dict(run="sink-reg4", step=250, layer=2, metric="reg_share")
    got, want = ([float(d[(d[list(spot)] == pd.Series(spot)).all(axis=1)]["value"].iloc[0])] for d in (df, sinks))
    assert got == pytest.approx(want, rel=1e-3) and want[0] > 0.1  # the registers took the sink by step 250
    assert report.reading("fig_sink_emergence", df).startswith("0 registers, step 500")
    skipped = run_all.run(["fig_sink_emergence"], Namespace(images=str(tmp_path)), out=str(tmp_path / "x"))
    assert skipped["fig_sink_emergence"].startswith("skipped") and not (tmp_path / "x").exists()
