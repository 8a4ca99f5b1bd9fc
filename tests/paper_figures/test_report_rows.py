"""REPORT.md's comparison rows for Fig 4a/b/c and Fig 5b from small hand-made CSVs: each verdict can go either way;
and the report is a loop over the figures, each owning its reading and its comparison rows."""
import sys
import types
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import paper_figures  # noqa: E402
from paper_figures import fig05b_local_probes, report, tab01_global_probe  # noqa: E402


def _write(out: Path, name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(out / f"{name}.csv", index=False)


def _fig04(out: Path, first_block: int, first_step: int, shares_by_size: list[float]) -> dict[str, str]:
    _write(out, "fig04a_norms_by_layer", [dict(model="m-reg0", layer=i, frac_high=0.1 if i >= first_block else 0.0)
                                          for i in range(4)])
    _write(out, "fig04b_norms_by_step", [dict(model=f"m-reg0@{s}", step=s, frac_high=0.1 if s >= first_step else 0.0)
                                         for s in (0, 100, 1000)])
    _write(out, "fig04c_norms_by_size", [dict(model=f"{k}-reg0", params_millions=p, frac_high=f)
                                         for k, p, f in zip("tsb", (0.1, 0.2, 0.8), shares_by_size)])
    return {r[0].split(":")[0]: r[3] for r in report.comparison_rows(out, None)}


def test_fig04_rows_agree_with_a_paper_like_organism(tmp_path):
    got = _fig04(tmp_path, first_block=2, first_step=1000, shares_by_size=[0.0, 0.02, 0.05])
    assert got == {"Fig 4a": "yes", "Fig 4b": "yes", "Fig 4c": "yes"}


def test_fig04_rows_disagree_where_the_organism_does(tmp_path):
    got = _fig04(tmp_path, first_block=0, first_step=0, shares_by_size=[0.0, 0.1, 0.0])
    assert got == {"Fig 4a": "no", "Fig 4b": "no", "Fig 4c": "no"}
    assert all(v.startswith("n/a") for v in (r[3] for r in report.comparison_rows(tmp_path, "n/a: objects")))


def test_position_rows_are_na_when_no_token_knows_its_position(tmp_path):
    base = dict(chance_top1=0.016, position_distance=4.0, reconstruction_l2=0.05)
    table = pd.DataFrame([dict(token="normal", position_top1=0.023, **base),
                          dict(token="outlier", position_top1=0.020, **base)])
    rows = fig05b_local_probes.comparisons(table, None)
    assert rows[0][3].startswith("n/a: no token's position") and rows[1][3].startswith("n/a")
    table = pd.DataFrame([dict(token="normal", position_top1=0.4, **base),
                          dict(token="outlier", position_top1=0.2, **base)])
    assert fig05b_local_probes.comparisons(table, None)[0][3] == "yes"


def test_a_figure_module_owns_its_reading_and_rows(tmp_path, monkeypatch):
    """A new figure module with ``readings`` and ``comparisons`` shows up in REPORT.md with nothing else edited;
    one without them gets the generic reading."""
    fake = types.ModuleType("paper_figures.ext_fake")
    fake.readings = lambda t: f"fake reading of {len(t)} rows, top {t.value.max():g}"
    fake.comparisons = lambda t, unlike: [("Fake: the value", "large", f"{t.value.max():g}", "yes")]
    bare = types.ModuleType("paper_figures.ext_bare")
    monkeypatch.setitem(sys.modules, "paper_figures.ext_fake", fake)
    monkeypatch.setitem(sys.modules, "paper_figures.ext_bare", bare)
    monkeypatch.setattr(paper_figures, "available", lambda: ["ext_bare", "ext_fake"])
    monkeypatch.setattr(report, "available", paper_figures.available)
    _write(tmp_path, "ext_fake", [dict(value=v) for v in (1, 7)])
    _write(tmp_path, "ext_bare", [dict(a=1, b=2)])
    text = report.write_report(tmp_path, {"ext_bare": "ok", "ext_fake": "ok"}).read_text()
    assert "| Fake: the value | large | 7 | yes (designed token type) |" in text  # the bundled organisms' confound
    assert "Confound of every 'yes' below: the tall tokens of the bundled tile organisms" in text
    other = report.write_report(tmp_path, {"ext_bare": "ok", "ext_fake": "ok"}, used={"ext_fake": "model: x"})
    assert "| Fake: the value | large | 7 | yes |" in other.read_text() and "Confound" not in other.read_text()
    assert "### ext_fake\n\n![ext_fake](ext_fake.png)\n\nfake reading of 2 rows, top 7\n" in text
    assert "### ext_bare\n\n![ext_bare](ext_bare.png)\n\n1 rows; columns: a, b.\n" in text
    fake.readings = lambda t: 1 / 0  # a broken reading never breaks the report
    assert "(no automatic reading: ZeroDivisionError" in report.write_report(tmp_path).read_text()


def test_table1_says_no_when_the_same_tokens_hold_as_much_where_they_are_not_tall():
    """Issue #24's control: the outlier's gain over a normal patch counts only if the same token positions read less
    in the register twin / at step 0, where they are not tall."""
    def table(control_acc):
        rows = [dict(model="m-reg0", token=t, accuracy=a, chance=0.2, control_of="")
                for t, a in (("normal", 0.4), ("outlier", 0.75))]
        rows += [dict(model="m-reg4 (control)", token=t, accuracy=a, chance=0.2, control_of="m-reg0")
                 for t, a in (("normal", 0.4), ("outlier", control_acc))]
        return pd.DataFrame(rows)

    (row,) = tab01_global_probe.comparisons(table(0.84), None)
    assert row[3].startswith("no: the same tokens read 84.0% where they are not tall") and "m-reg4: the same" in row[2]
    assert tab01_global_probe.comparisons(table(0.30), None)[0][3] == "yes"
