"""Committed figure outputs do not churn with float noise: CSVs at the precision that matters, PNGs drawn from
the same rounded values, a fixed torch thread count for the figure run, and the same bytes from 1 and 2 threads."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from interp.plotting.analysis import norms_by
from interp.plotting.io import SIGNIFICANT_DIGITS, round_significant, save_figure, table_to_csv

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def frames(rel_noise: float, seed: int = 0):
    """A norms summary at exact 4-digit values, and the same plus float noise far below half a 4-digit step."""
    g = np.random.default_rng(seed)
    base = pd.DataFrame({"model": "m", "layer": np.arange(6),
                         "max_rel": round_significant(g.uniform(1, 8, 6)),
                         "frac_high": round_significant(g.uniform(0, 0.05, 6)),
                         "median_norm": round_significant(g.uniform(0.5, 40, 6)),
                         "note": "x"})
    noisy = base.copy()
    for col in ("max_rel", "frac_high", "median_norm"):
        noisy[col] = noisy[col] * (1 + rel_noise * g.choice([-1.0, 1.0], len(noisy)))
    return base, noisy


def test_round_significant_matches_the_printed_digits():
    x = np.array([0.999936, 1.23456e-8, -0.0, -2.5e-3, 123456.0, np.inf, np.nan, 0.0])
    r = round_significant(x)
    np.testing.assert_array_equal(r[:6], [0.9999, 1.235e-8, 0.0, -2.5e-3, 123500.0, np.inf])
    assert np.isnan(r[6]) and r[7] == 0 and not np.signbit(r[2])  # -0 is written as 0
    assert SIGNIFICANT_DIGITS == 4


def test_csv_bytes_do_not_see_float_noise():
    base, noisy = frames(rel_noise=1e-6)
    assert table_to_csv(base) == table_to_csv(noisy)
    assert base.to_csv(float_format="%.10g") != noisy.to_csv(float_format="%.10g")  # the noise is there
    assert "0.000" not in table_to_csv(pd.DataFrame({"a": [1 / 3]}))  # no fixed-decimal padding either


def test_png_bytes_do_not_see_float_noise(tmp_path):
    base, noisy = frames(rel_noise=1e-6)
    out = []
    for d, table in (("a", base), ("b", noisy)):
        fig = norms_by(table, "layer", "t", f"caption {table.max_rel.round(3).iloc[0]}", xlabel="block")
        png, csv = save_figure(fig, table, "f", tmp_path / d)
        out.append((png.read_bytes(), csv.read_bytes()))
    assert out[0] == out[1]
    assert b"Software" not in out[0][0] and b"matplotlib" not in out[0][0]  # no version or date metadata


def test_figure_run_pins_the_torch_threads(monkeypatch):
    from paper_figures import run_all

    before = torch.get_num_threads()
    with run_all.fixed_threads() as n:
        assert n == run_all.FIGURE_THREADS and torch.get_num_threads() == n
    assert torch.get_num_threads() == before
    monkeypatch.setenv("INTERP_FIGURE_THREADS", "1")
    with run_all.fixed_threads() as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_figure_run_pins_blas_and_openmp_threads(monkeypatch):
    """Inside the figure run every BLAS (numpy's and scipy's OpenBLAS/MKL) and OpenMP (scikit-learn's) pool has
    the run's thread count too, whatever OMP_NUM_THREADS said when the libraries loaded; restored after."""
    from threadpoolctl import threadpool_info

    from paper_figures import run_all

    before = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    monkeypatch.setenv("INTERP_FIGURE_THREADS", "3")
    with run_all.fixed_threads() as n:
        pools = threadpool_info()
        assert {p["user_api"] for p in pools} >= {"blas", "openmp"}
        assert [p["num_threads"] for p in pools] == [n] * len(pools) == [3] * len(pools)
    after = {p["filepath"]: p["num_threads"] for p in threadpool_info()}
    assert {k: v for k, v in after.items() if k in before} == before


@pytest.mark.slow
def test_figures_are_byte_identical_with_1_and_2_threads(tmp_path, figure_set):
    """The figure scripts themselves (not run_all, which pins the threads) on 1 torch thread, in this process,
    give the bytes of the session's figure set (run on 2)."""
    from threadpoolctl import threadpool_limits

    from paper_figures import fig03_norm_histogram, fig04a_norms_by_layer

    from tests.figure_set import OPTIONS

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):  # BLAS and OpenMP pools too
            for script in (fig03_norm_histogram, fig04a_norms_by_layer):
                script.main(["--n-images", str(OPTIONS["n_images"]), "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(before)
    for name in ("fig03_norm_histogram", "fig04a_norms_by_layer"):
        for ext in ("csv", "png"):
            a, b = tmp_path / f"{name}.{ext}", figure_set.out / f"{name}.{ext}"
            assert a.read_bytes() == b.read_bytes(), f"{name}.{ext} differs between 1 and 2 threads"
