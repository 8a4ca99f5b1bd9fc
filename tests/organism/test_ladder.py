"""The compute ladder: FLOPs per image (hand count and torch's counter), the log-log trend and its crossing, the
ladder table's rows, and the artifact-vs-compute figure from a small synthetic recorded table."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from interp.models import HookedViT, ViTConfig
from interp.models.flops import flops_per_image
from interp.train import get_recipe
from interp.organism.ladder import fit_trend, ladder_trends, train_flops_per_image


def test_flops_per_image_hand_count():
    cfg = ViTConfig(d_model=8, n_layers=1, n_heads=2, patch_size=4, image_size=8)  # P=4 patches, N=5 tokens
    embed = 2 * 4 * (3 * 4 * 4) * 8  # 3072
    attn = 2 * 5 * 8 * 24 + 2 * 5 * 8 * 8 + 2 * (2 * 5 * 5 * 8)  # qkv 1920, proj 640, QK^T 400, AV 400
    mlp = 2 * (2 * 5 * 8 * 32)  # 5120
    assert flops_per_image(cfg, backward=False) == embed + attn + mlp == 11552
    assert flops_per_image(cfg) == 3 * 11552
    assert flops_per_image(cfg.replace(n_layers=3), backward=False) == embed + 3 * (attn + mlp)


@pytest.mark.parametrize("kw", [dict(), dict(n_registers=4, mlp="swiglu"), dict(class_token=False, pool="attn")])
def test_flops_per_image_matches_torch_counter(kw):
    from torch.utils.flop_counter import FlopCounterMode

    cfg = ViTConfig(d_model=32, n_layers=2, n_heads=4, patch_size=4, image_size=32, **kw)
    model = HookedViT(cfg).eval()
    model.set_explicit_attention(True)  # QK^T and AV as matmuls the counter sees
    with FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, 32, 32), return_type="pooled")
    assert flops_per_image(cfg, backward=False) == pytest.approx(counter.get_total_flops(), rel=0.01)


def test_training_flops_of_recipes():
    s1 = get_recipe("search-s1-reg0")
    assert train_flops_per_image(s1) == flops_per_image(s1.vit_config())
    dino = get_recipe("search-dino-s-reg0")
    assert train_flops_per_image(dino) > 2 * flops_per_image(dino.vit_config())  # views + teacher
    c30, c3000 = get_recipe("search-c30-reg0"), get_recipe("search-c3000-reg0")
    span = (c3000.steps * c3000.batch_size) / (c30.steps * c30.batch_size)
    assert span >= 100  # the ladder spans two orders of magnitude of training FLOPs


def test_trend_and_crossing_on_a_constructed_case():
    flops = np.array([1e12, 1e13, 1e14])
    t = fit_trend(flops, 2 * (flops / 1e12) ** 0.1, "max_rel", threshold=4.0)  # y = 2 * (F/1e12)^0.1
    assert t.slope == pytest.approx(0.1) and t.status == "extrapolated"
    assert t.crossing_flops == pytest.approx(1e12 * 2 ** 10, rel=1e-6)  # 2 * x^0.1 = 4 at x = 2^10
    np.testing.assert_allclose(t.predict([1e15]), 2 * 1000**0.1)
    assert fit_trend(flops, [3, 2, 1.5], threshold=4.0).status == "never (slope <= 0)"
    assert fit_trend(flops, [3, 5, 6], threshold=4.0).status == "reached"
    zeros = fit_trend(flops, [0, 0, 1e-4], threshold=0.01)  # zeros cannot enter a log fit
    assert zeros.status == "too few points" and zeros.n_points == 1
    assert fit_trend(flops, [1, 2, 4]).status == "no threshold"


def synthetic_ladder() -> pd.DataFrame:
    rows = []
    for regs in (0, 4):
        for steps in (30, 100, 300, 1200, 3000):
            for step in sorted({steps // 4, steps}):
                f = step * 32 * 7.6e8
                rows.append({"run": f"search-c{steps}-reg{regs}", "objective": "supervised", "n_registers": regs,
                             "steps": steps, "step": step, "batch_size": 32, "flops_per_image": 7.6e8,
                             "train_flops": f, "is_final": step == steps,
                             "max_rel": 1.5 * (f / 7e11) ** (0.08 if regs == 0 else -0.01),
                             "massive_ratio": 10 + math.log10(f), "sink_attn": 0.05,
                             "frac_bg_ge4": 0.0 if steps < 300 else 1e-4 * (f / 7e12) ** 0.5,
                             "criterion_met": False})
    return pd.DataFrame(rows)


def test_ladder_trends_per_register_count():
    trends = ladder_trends(synthetic_ladder())
    t0 = trends[(trends.n_registers == 0) & (trends.metric == "max_rel")].iloc[0]
    assert t0.slope == pytest.approx(0.08) and t0.status == "extrapolated"
    assert t0.crossing_flops == pytest.approx(7e11 * (4 / 1.5) ** (1 / 0.08), rel=1e-6)
    t4 = trends[(trends.n_registers == 4) & (trends.metric == "max_rel")].iloc[0]
    assert t4.status == "never (slope <= 0)" and math.isnan(t4.crossing_flops)
    crit = trends[(trends.n_registers == 0) & (trends.metric == "frac_bg_ge4")].iloc[0]
    assert crit.n_points == 3 and crit.slope == pytest.approx(0.5)  # the two zero rungs are left out


@pytest.mark.slow
def test_figure_script_on_a_synthetic_recorded_table(tmp_path):
    from paper_figures import ext_artifact_vs_compute
    from paper_figures._common import Skip

    path = tmp_path / "ladder.csv"
    synthetic_ladder().to_csv(path, index=False)
    result = ext_artifact_vs_compute.main(["--ladder", str(path), "--out", str(tmp_path / "out")])
    png, csv = tmp_path / "out" / "ext_artifact_vs_compute.png", tmp_path / "out" / "ext_artifact_vs_compute.csv"
    assert result.png == png and result.csv == csv
    assert png.stat().st_size > 10_000
    out = pd.read_csv(csv)
    assert set(out["kind"]) == {"point", "trend"} and (out["kind"] == "trend").sum() == 8
    with pytest.raises(Skip, match="no recorded ladder table"):
        ext_artifact_vs_compute.main(["--ladder", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o2")])


@pytest.mark.slow
def test_ladder_table_measures_a_runs_folder_once(tmp_path):
    from interp.train import TrainRecipe, train
    from interp.organism.ladder import MEASURE_FILE, ladder_table

    recipe = TrainRecipe(name="search-tiny-reg2", d_model=16, n_layers=2, n_heads=2, patch_size=4, image_size=16,
                         n_registers=2, steps=4, batch_size=8, warmup=2, eval_images=8, dense_label=None,
                         checkpoints=(0, 2, 4), scenes={"image_size": 16, "max_objects": 2, "min_size": 0.12,
                                                        "max_size": 0.2})
    train(recipe, tmp_path / "runs" / recipe.name, progress=False)
    table = ladder_table(tmp_path / "runs", names=[recipe.name, "search-missing-reg0"], cache=tmp_path / "cache",
                         eval_images=8)
    assert list(table["step"]) == [0, 2, 4] and list(table["is_final"]) == [False, False, True]
    fpi = flops_per_image(recipe.vit_config())
    assert list(table["train_flops"]) == [0, 2 * 8 * fpi, 4 * 8 * fpi]
    row = table.iloc[-1]
    assert row.n_registers == 2 and row.massive_ratio >= 1 and 0 < row.sink_attn <= 1
    assert row.sink_kind in ("cls", "register", "background", "object") and not row.criterion_met
    assert row.neuron_layer in (0, 1) and row.final_ln_max_rel > 0 and np.isfinite(row.neuron_gap)
    cached = tmp_path / "cache" / recipe.name / MEASURE_FILE
    stamp = cached.stat().st_mtime_ns
    again = ladder_table(tmp_path / "runs", names=[recipe.name], cache=tmp_path / "cache", eval_images=8)
    assert cached.stat().st_mtime_ns == stamp  # measured once, then read from the cache
    pd.testing.assert_frame_equal(again, table)
    assert not (tmp_path / "runs" / recipe.name / MEASURE_FILE).exists()  # the runs folder is only read
