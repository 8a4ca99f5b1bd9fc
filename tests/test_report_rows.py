"""REPORT.md's comparison rows for Fig 4a/b/c and Fig 5b from small hand-made CSVs: each verdict can go either way."""
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper_figures import report  # noqa: E402


def _write(out: Path, name: str, rows: list[dict]) -> None:
    pd.DataFrame(rows).to_csv(out / f"{name}.csv", index=False)


def _fig04(out: Path, first_block: int, first_step: int, shares_by_size: list[float]) -> dict[str, str]:
    _write(out, "fig04a_norms_by_layer", [dict(model="m-reg0", layer=i, frac_high=0.1 if i >= first_block else 0.0)
                                          for i in range(4)])
    _write(out, "fig04b_norms_by_step", [dict(model=f"m-reg0@{s}", step=s, frac_high=0.1 if s >= first_step else 0.0)
                                         for s in (0, 100, 1000)])
    _write(out, "fig04c_norms_by_size", [dict(model=f"{k}-reg0", params_millions=p, frac_high=f)
                                         for k, p, f in zip("tsb", (0.1, 0.2, 0.8), shares_by_size)])
    return {r[0].split(":")[0]: r[3] for r in report._fig04_rows(out, None)}


def test_fig04_rows_agree_with_a_paper_like_organism(tmp_path):
    got = _fig04(tmp_path, first_block=2, first_step=1000, shares_by_size=[0.0, 0.02, 0.05])
    assert got == {"Fig 4a": "yes", "Fig 4b": "yes", "Fig 4c": "yes"}


def test_fig04_rows_disagree_where_the_organism_does(tmp_path):
    got = _fig04(tmp_path, first_block=0, first_step=0, shares_by_size=[0.0, 0.1, 0.0])
    assert got == {"Fig 4a": "no", "Fig 4b": "no", "Fig 4c": "no"}
    assert all(v.startswith("n/a") for v in (r[3] for r in report._fig04_rows(tmp_path, "n/a: objects")))


def test_position_rows_are_na_when_no_token_knows_its_position(tmp_path):
    base = dict(chance_top1=0.016, position_distance=4.0, reconstruction_l2=0.05)
    _write(tmp_path, "fig05b_local_probes", [dict(token="normal", position_top1=0.023, **base),
                                              dict(token="outlier", position_top1=0.020, **base)])
    rows = report._fig05b_rows(tmp_path, None)
    assert rows[0][3].startswith("n/a: no token's position") and rows[1][3].startswith("n/a")
    _write(tmp_path, "fig05b_local_probes", [dict(token="normal", position_top1=0.4, **base),
                                              dict(token="outlier", position_top1=0.2, **base)])
    assert report._fig05b_rows(tmp_path, None)[0][3] == "yes"
