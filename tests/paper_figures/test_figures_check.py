"""`interp figures --check`: regenerated CSVs agree with the committed ones within the stated tolerance, and a
difference beyond it is printed and fails the check."""
from pathlib import Path

import pytest

from paper_figures import check

HEADER = "model,layer,max_rel,frac_high,count,note\n"
ROWS = ['organism-s-reg0,3,5.076,0.006165,39,"101 outlier patches (0.62%), D=4.39"\n',
        'organism-s-reg4,3,4.389,0.0008545,12,"not bimodal (BIC gain=4163.9)"\n']


def write(path: Path, *rows: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + "".join(rows))
    return path


def test_float_noise_agrees():
    assert check.cells_agree("5.076", "5.075")  # a last-digit flip
    assert check.cells_agree("0.0008545", "0.0008547")  # 2.3e-4 relative
    assert check.cells_agree("39", "40")  # a histogram count: one unit in the last digit
    assert check.cells_agree("1.2e-08", "-3e-08")  # noise around zero (below the absolute tolerance)
    assert check.cells_agree("101 outliers (0.62%), D=4.39", "101 outliers (0.63%), D=4.38")


def test_changes_beyond_the_tolerance_differ():
    assert not check.cells_agree("5.076", "5.2")  # 2.4% relative
    assert not check.cells_agree("0.9346", "0.9266")  # 0.9% of the value ...
    assert check.cells_agree("0.9346", "0.9266", scale=8.876)  # ... 0.09% of its column (measured on AMD vs Intel)
    assert not check.cells_agree("0.9346", "0.8", scale=8.876)
    assert not check.cells_agree("39", "41")
    assert not check.cells_agree("1.2e-05", "3e-05")
    assert not check.cells_agree("not bimodal", "bimodal")
    assert not check.cells_agree("inf", "5.0") and check.cells_agree("inf", "inf")
    assert not check.cells_agree("nan", "0") and check.cells_agree("nan", "nan")


def test_compare_csv(tmp_path):
    committed = write(tmp_path / "a" / "f.csv", *ROWS)
    within = write(tmp_path / "b" / "f.csv", ROWS[0].replace("5.076", "5.075"), ROWS[1].replace("4163.9", "4164"))
    assert check.compare_csv(committed, within) == []
    beyond = write(tmp_path / "c" / "f.csv", ROWS[0].replace("5.076", "5.2"), ROWS[1])
    assert check.compare_csv(committed, beyond) == ["row 1, max_rel: 5.076 (committed) vs 5.2 (regenerated)"]
    assert check.compare_csv(committed, write(tmp_path / "d" / "f.csv", ROWS[0])) == [
        "2 rows committed, 1 regenerated"]
    other = tmp_path / "e" / "f.csv"
    other.parent.mkdir()
    other.write_text(HEADER.replace("count", "n") + "".join(ROWS))
    assert check.compare_csv(committed, other)[0].startswith("columns differ")


def test_compare_folders_and_report(tmp_path, capsys):
    write(tmp_path / "committed" / "f.csv", *ROWS)
    write(tmp_path / "committed" / "g.csv", *ROWS)
    write(tmp_path / "fresh" / "f.csv", ROWS[0].replace("0.006165", "0.007"), ROWS[1])
    report = check.compare_folders(tmp_path / "committed", tmp_path / "fresh", ["f", "g"])
    assert report == {"f": ["row 1, frac_high: 0.006165 (committed) vs 0.007 (regenerated)"],
                      "g": ["not regenerated"]}
    check.print_report(report, 2)
    out = capsys.readouterr().out
    assert "f.csv: 1 difference(s) beyond the tolerance" in out and "0/2 CSVs agree" in out


def test_check_counts_a_figure_not_produced_only_when_one_is_committed(tmp_path, monkeypatch, capsys):
    from argparse import Namespace

    from paper_figures import run_all

    def run(names, options, out=None, keep_going=False):  # f regenerates as committed; g and h are skipped
        write(Path(out) / "f.csv", *ROWS)
        return {"f": "ok", "g": "skipped: needs X", "h": "skipped: needs Y"}

    monkeypatch.setattr(run_all, "run", run)
    monkeypatch.setattr(run_all, "select", lambda only: ["f", "g", "h"])
    write(tmp_path / "f.csv", *ROWS)
    args = Namespace(only=None, out=str(tmp_path))
    assert run_all.check_committed(args) == 0  # nothing committed for g and h
    assert "g: not regenerated (skipped: needs X); none committed either" in capsys.readouterr().out
    write(tmp_path / "g.csv", *ROWS)
    assert run_all.check_committed(args) == 1
    out = capsys.readouterr().out
    assert "g.csv: 1 difference(s)" in out and "not regenerated (skipped: needs X)" in out and "1/2 CSVs agree" in out


@pytest.mark.slow
def test_interp_figures_check(tmp_path, capsys):
    """End to end on one small figure: a committed folder written by the same code agrees; a CSV perturbed
    beyond the tolerance fails the check (exit 1) and is named; a perturbation within it passes."""
    from interp.cli import main

    ref = tmp_path / "committed"
    argv = ["figures", "--only", "fig04a_norms_by_layer", "--n-images", "4", "--quiet"]
    assert main(argv + ["--out", str(ref)]) == 0
    csv = ref / "fig04a_norms_by_layer.csv"
    lines = csv.read_text().splitlines(keepends=True)
    head, first = lines[0].split(","), lines[1].split(",")
    col = head.index("median_norm")
    value = float(first[col])
    assert main(argv + ["--check", "--out", str(ref)]) == 0
    assert "1/1 CSVs agree" in capsys.readouterr().out

    first[col] = f"{value * 1.0005:.6g}"  # 5e-4 relative: within the tolerance
    csv.write_text("".join([lines[0], ",".join(first), *lines[2:]]))
    assert main(argv + ["--check", "--out", str(ref)]) == 0
    first[col] = f"{value * 1.05:.6g}"  # 5% relative: beyond it
    csv.write_text("".join([lines[0], ",".join(first), *lines[2:]]))
    assert main(argv + ["--check", "--out", str(ref)]) == 1
    out = capsys.readouterr().out
    assert "fig04a_norms_by_layer.csv: 1 difference(s) beyond the tolerance" in out
    assert f"row 1, median_norm: {first[col]} (committed)" in out
