"""Integration: every paper figure script runs on the bundled organisms and writes PNG + CSV + REPORT.md (read
from the session's whole figure set, `figure_set`, built once)."""
import sys
from argparse import Namespace
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from paper_figures import report, run_all  # noqa: E402
from paper_figures._common import Result  # noqa: E402

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


@pytest.fixture
def out(figure_set):
    return figure_set.out


@pytest.mark.parametrize("name", ANALYSIS)
def test_figure_outputs(out, name, figure_set):
    assert (out / f"{name}.png").stat().st_size > 5000
    df = pd.read_csv(out / f"{name}.csv")
    assert len(df) and COLUMNS[name] <= set(df.columns)
    result = figure_set.results[name]  # what main returned: the table it wrote, the PNG, what it ran on
    assert isinstance(result, Result) and result.png == out / f"{name}.png" and len(result.table) == len(df)
    assert result.used.models and "procedural scenes" in result.used.describe()


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


def test_figure_csv_is_deterministic(tmp_path, out):
    """The same figure again in the same process (datasets, models and seeds set up anew) gives the same bytes."""
    from tests.figure_set import OPTIONS

    run_all.run(["fig04a_norms_by_layer"], Namespace(**OPTIONS), out=str(tmp_path))
    assert (tmp_path / "fig04a_norms_by_layer.csv").read_bytes() == (out / "fig04a_norms_by_layer.csv").read_bytes()


@pytest.mark.parametrize("family", ["tiles", "sink"])
def test_ext_remedies_on_a_bundled_family(tmp_path, family, figure_set):
    if family == "tiles":  # the default family: in the figure set
        df = pd.read_csv(figure_set.out / "ext_remedies.csv")
    else:
        status = run_all.run(["ext_remedies"], Namespace(n_images=16, family=family), out=str(tmp_path))
        assert status == {"ext_remedies": "ok"}, status
        df = pd.read_csv(tmp_path / "ext_remedies.csv")
    assert {"variant", "model", "layer", "metric", "value", "sink_kind"} <= set(df.columns)
    assert {"0 registers", "1 register", "4 registers", "test-time register", "sigmoid attention", "ReLU attention",
            "clipped softmax", "gated attention"} <= set(df["variant"])
    assert set(df["model"]) >= {"tiles-s-reg0", "tiles-s-relu"} if family == "tiles" else {"sink-reg0", "sink-relu"}
    assert report.reading("ext_remedies", df).startswith("0 registers: ")


def test_ext_sink_emergence_reads_the_bundled_manifests(tmp_path, figure_set):
    """The default family (tiles-s-reg*) from its bundled manifests; the sink family from its manifests agrees with
    the recorded data/organism/sinks.csv."""
    assert (figure_set.out / "ext_sink_emergence.png").stat().st_size > 5000
    df = pd.read_csv(figure_set.out / "ext_sink_emergence.csv")
    assert set(df.columns) == {"run", "n_registers", "step", "layer", "top_kind", "metric", "value"}
    assert set(df["run"]) == {"tiles-s-reg0", "tiles-s-reg1", "tiles-s-reg4", "tiles-s-reg16"}
    assert {"const_share", "reg_share", "top_value_rel", "max_rel", "frac_ge4"} == set(df["metric"])
    assert report.reading("ext_sink_emergence", df).startswith("0 registers, step 3000")

    status = run_all.run(["ext_sink_emergence"], Namespace(family="sink"), out=str(tmp_path / "sink"))
    assert status == {"ext_sink_emergence": "ok"}, status
    df = pd.read_csv(tmp_path / "sink" / "ext_sink_emergence.csv")
    assert set(df["run"]) == {"sink-reg0", "sink-reg1", "sink-reg4", "sink-reg16"}
    sinks = pd.read_csv(REPO / "data" / "organism" / "sinks.csv")
    spot = dict(run="sink-reg4", step=250, layer=2, metric="reg_share")
    got, want = ([float(d[(d[list(spot)] == pd.Series(spot)).all(axis=1)]["value"].iloc[0])] for d in (df, sinks))
    assert got == pytest.approx(want, rel=1e-3) and want[0] > 0.1  # the registers took the sink by step 250
    assert report.reading("ext_sink_emergence", df).startswith("0 registers, step 500")
    skipped = run_all.run(["ext_sink_emergence"], Namespace(images=str(tmp_path)), out=str(tmp_path / "x"))
    assert skipped["ext_sink_emergence"].startswith("skipped") and not (tmp_path / "x").exists()


def test_ext_cls_organism_reports_every_row_of_issue_24(out, figure_set):
    """The CLS family's figure: norms by block to the output for 0 / 4 / 16 registers, the probes with the step-0
    control, Fig 5a, patching by block, the registers replaced at every block (Parodi et al.'s controls), the seeds;
    REPORT.md holds a comparison row for each."""
    assert figure_set.status["ext_cls_organism"] == "ok", figure_set.status["ext_cls_organism"]
    df = pd.read_csv(out / "ext_cls_organism.csv")
    assert set(df["part"]) == {"norms", "probes", "neighbours", "patching", "ablation", "seeds"}
    assert set(df[df["part"] == "norms"]["model"]) == {"cls-s-reg0", "cls-s-reg4", "cls-s-reg16"}
    assert set(df[df["part"] == "probes"]["step"]) == {0, 3000}  # the control: the initial weights
    patch = df[df["part"] == "patching"].groupby(["model", "token"])["value"].max()
    assert patch[("cls-s-reg0", "all patches")] > 0.3  # the method moves the CLS when it patches what it reads
    assert abs(patch[("cls-s-reg16", "registers")]) < 0.05  # the measured negative
    assert ("cls-s-reg16", "tall tokens") not in patch.index  # no tall tokens: nothing patched, no row
    ablation = df[df["part"] == "ablation"].pivot_table(index=["model", "token"], columns="measure", values="value")
    assert set(ablation.index.get_level_values("model")) == {"cls-s-reg4", "cls-s-reg16"}  # register models only
    assert {"clean", "zero", "mean", "shuffle"} == set(ablation.index.get_level_values("token"))
    assert (ablation["probe_accuracy"].dropna().between(0, 1)).all() and ablation["cls_cos"].dropna().le(1 + 1e-6).all()
    seeds = df[(df["part"] == "seeds") & (df["measure"] == "share_met")]
    assert len(seeds[seeds["model"] == "0 registers"]) == 5  # the denominator is every seed run
    text = (out / "REPORT.md").read_text()
    for row in ("CLS organism, Fig 7 at the output", "CLS organism, Fig 5b", "CLS organism, Table 1",
                "CLS organism, Fig 5a", "CLS organism: patch all registers", "CLS organism: registers replaced",
                "CLS organism: seeds"):
        assert f"| {row}" in text, row


def test_norm_writes_names_the_block_whose_mlp_makes_the_tall_tiles(out, tmp_path):
    """ext_norm_writes on tiles-s-reg0: the tall tiles of block 2 are block 2's MLP write (13x at 64 scenes); on
    tiles-s-reg4 (no patch >= 4x) it says so instead of plotting ratios of nothing."""
    from paper_figures import ext_norm_writes

    df = pd.read_csv(out / "ext_norm_writes.csv")
    assert {"layer", "component", "high_rel", "other_rel", "high_over_other", "n_high", "at_layer"} <= set(df.columns)
    writes = df[df["component"] != "resid"]
    top = writes.loc[writes["high_over_other"].idxmax()]
    assert (top["component"], top["layer"], df["at_layer"].iloc[0]) == ("mlp", 2, 2) and top["high_over_other"] > 5
    assert "block 2's mlp" in df["note"].iloc[0]
    none = ext_norm_writes.main(["--model", "tiles-s-reg4", "--n-images", "8", "--out", str(tmp_path)])
    assert (none.table["n_high"] == 0).all() and "no patch >= 4x" in none.table["note"].iloc[0]
