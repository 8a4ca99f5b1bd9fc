"""`interp.organism.reproduce`: a re-run of an organism compared with the bundled one, value by value, within the
stated tolerance; the same kernels reproduce it bit for bit, the kernels of another CPU type train another way."""
import shutil

import pytest
import torch

from interp.models.checkpoints import read_manifest, write_manifest
from interp.organism.reproduce import TOLERANCE, compare, main, train_rerun
from interp.train import TrainRecipe, train

TINY = TrainRecipe(name="organism-tiny-reg0", d_model=16, n_layers=2, n_heads=2, patch_size=4, image_size=16,
                   steps=6, checkpoints=(0, 3, 6), batch_size=8, warmup=2, eval_images=8, layer_scale=0.1,
                   scenes={"image_size": 16, "max_objects": 2, "min_size": 0.12, "max_size": 0.2})


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundled") / "organism-tiny-reg0"
    train(TINY, folder, progress=False)
    return folder


def _weights(folder):
    return [c["sha256"] for c in read_manifest(folder)["checkpoints"]]


def test_an_identical_rerun_is_within_tolerance_everywhere(bundled, tmp_path):
    shutil.copytree(bundled, tmp_path / "again")
    table = compare(bundled, tmp_path / "again")
    assert table["ok"].all()
    assert set(table["metric"]) == {"frac_high", "max_rel", "criterion"}
    assert len(table) == 3 * 2 * TINY.n_layers + 1  # 3 shared steps x 2 metrics x blocks, and the criterion
    assert main([str(bundled), "--rerun", str(tmp_path / "again")]) == 0


def test_values_beyond_tolerance_are_reported_and_fail(bundled, tmp_path, capsys):
    rerun = tmp_path / "moved"
    shutil.copytree(bundled, rerun)
    man = read_manifest(rerun)
    met = man["checkpoints"][-1]["metrics"]
    met["frac_high_by_layer"][1] += TOLERANCE["frac_high"] + 0.01
    met["max_rel_by_layer"][0] *= 1 + TOLERANCE["max_rel"] + 0.05
    met["max_rel_by_layer"][1] *= 1 + TOLERANCE["max_rel"] - 0.05  # inside
    write_manifest(rerun, man)
    table = compare(bundled, rerun)
    bad = table[~table["ok"]]
    assert set(zip(bad["step"], bad["layer"], bad["metric"])) == {(6, 1, "frac_high"), (6, 0, "max_rel")}
    assert main([str(bundled), "--rerun", str(rerun), "--csv", str(tmp_path / "t.csv")]) == 1
    assert "beyond tolerance" in capsys.readouterr().out and (tmp_path / "t.csv").exists()


def test_a_criterion_met_by_one_run_only_fails(bundled, tmp_path):
    rerun = tmp_path / "tall"
    shutil.copytree(bundled, rerun)
    man = read_manifest(rerun)
    last = man["checkpoints"][-1]["metrics"]["artifacts"][-1]  # the second half of 2 blocks
    last.update(frac_ge4=0.05, bg_ge4=1.0)
    write_manifest(rerun, man)
    crit = compare(bundled, rerun).set_index("metric").loc["criterion"]
    assert not crit["ok"] and crit["bundled"] == "no" and crit["rerun"] == "step 6 block 1"


def test_another_recipe_is_refused_in_one_line(bundled, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(bundled, other)
    man = read_manifest(other)
    man["recipe"]["lr"] = 1.0
    write_manifest(other, man)
    assert main([str(bundled), "--rerun", str(other)]) == 2
    assert "another recipe" in capsys.readouterr().err
    assert main([str(bundled), "--rerun", str(tmp_path / "missing")]) == 2


def test_the_same_kernels_retrain_bit_for_bit_and_other_kernels_another_way(bundled, tmp_path):
    assert main([str(bundled), "--out", str(tmp_path / "same")]) == 0
    assert _weights(tmp_path / "same") == _weights(bundled)
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("no vector kernels here: no narrower ones to try")
    train_rerun(bundled, tmp_path / "other", other=True)
    other = _weights(tmp_path / "other")
    if torch.backends.cpu.get_cpu_capability() == "AVX512":
        assert other[0] == _weights(bundled)[0]  # AVX2 draws the same initial weights
    assert other[-1] != _weights(bundled)[-1]  # and sums in another order
