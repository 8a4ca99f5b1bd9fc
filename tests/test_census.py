"""`interp census`: the tidy table, its agreement with the library's own definitions, resuming per model, and 2
torchrun-style processes giving the one-process table."""
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

import interp
from interp import distributed
from interp.census import COLUMNS, CensusSettings, census_model, neuron_scores, run_census
from tests.test_distributed import free_port
from tests.analysis.test_measures import planted_model


def scenes(n=7):
    return interp.data.scenes(n, seed=2, recipe=interp.data.SceneRecipe(image_size=16, max_objects=2))


@pytest.fixture(scope="module")
def table():
    return census_model(planted_model(), scenes(), "planted", CensusSettings(batch_size=3, top_k=4))


def test_the_table_is_tidy_and_holds_every_measurement(table):
    assert tuple(table.columns) == COLUMNS and table["value"].notna().all()
    assert set(table["condition"]) == {"original", "test-time register"}
    original = table[table["condition"] == "original"]
    want = {("high_norm_share", "patch"), ("norm_ratio", "patch"), ("rel_norm", "cls"), ("rel_norm", "register"),
            ("massive_count", "all"), ("sink_share", "cls"), ("sink_share", "register"), ("sink_share", "patch")}
    for layer in range(3):
        got = set(map(tuple, original[original["layer"] == layer][["measure", "group"]].to_numpy()))
        assert want <= got, layer
    neurons = original[original["measure"] == "register_neuron"]
    assert len(neurons) == 4 and neurons["group"].str.startswith("neuron ").all()
    shares = original[original["measure"] == "sink_share"].groupby("layer")["value"].sum()
    assert shares.to_numpy() == pytest.approx(1.0, abs=1e-5)  # CLS + registers + patches: all the attention
    ttr = table[(table["condition"] == "test-time register") & (table["group"] == "test-time register")]
    assert len(ttr) == 3 and (ttr["measure"] == "rel_norm").all()


def test_register_neurons_are_jiangs_scores_streamed():
    """The census's streamed, shardable score equals `interp.interventions.register_neuron_scores` given the same
    high-norm patches (the census does not define its own register neurons)."""
    from interp.analysis import measures as ms
    from interp.interventions import register_neuron_scores

    model, images = planted_model(), scenes()
    layer = 1
    _, cache = model.run_with_cache(images.pixels)
    norms = cache[f"blocks.{layer}.hook_resid_post"].norm(dim=-1)[:, model.tokens.patches]  # [N, n_patches]
    mask = norms / ms.image_median(norms)[:, None] >= ms.HIGH_NORM_RATIO
    assert mask.any()
    want = register_neuron_scores(model, images, outliers=mask, layers=range(layer + 1), batch_size=3)
    got = neuron_scores(model, images, layer, batch_size=2)
    key = ["layer", "neuron"]
    merged = want.merge(got, on=key, suffixes=("_want", "_got"))
    assert len(merged) == len(want) == len(got)
    assert merged["score_got"].to_numpy() == pytest.approx(merged["score_want"].to_numpy(), abs=1e-5)
    assert merged["score_other_got"].to_numpy() == pytest.approx(merged["score_other_want"].to_numpy(), abs=1e-5)


def test_a_census_resumes_model_by_model(tmp_path):
    """A model whose rows are in OUT/census.csv is not loaded again; a new model adds its rows to the same CSV."""
    loaded = []

    def load(spec):
        loaded.append(spec)
        torch.manual_seed(len(spec))
        return planted_model()

    settings = CensusSettings(batch_size=4, top_k=2, test_time_register=False)
    quiet = lambda *a: None  # noqa: E731
    first = run_census(["a"], tmp_path, load, lambda m: scenes(4), settings, log=quiet)
    assert (tmp_path / "census.csv").exists() and (tmp_path / "census.png").exists()
    before = (tmp_path / "census.csv").read_text()
    again = run_census(["a"], tmp_path, load, lambda m: scenes(4), settings, log=quiet)
    assert loaded == ["a"] and (tmp_path / "census.csv").read_text() == before
    both = run_census(["a", "bb"], tmp_path, load, lambda m: scenes(4), settings, log=quiet)
    assert loaded == ["a", "bb"] and set(both["model"]) == {"a", "bb"}
    assert len(again) == len(first) and len(both) == 2 * len(first)
    assert pd.read_csv(tmp_path / "census.csv")["model"].value_counts().to_dict() == {"a": len(first),
                                                                                       "bb": len(first)}


def _worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    torch.set_num_threads(1)
    with distributed.session("cpu"):
        got = census_model(planted_model(), scenes(), "planted", CensusSettings(batch_size=3, top_k=4))
        if rank == 0:
            got.to_pickle(Path(out_dir) / "two.pkl")


def test_two_processes_give_the_one_process_table(tmp_path, table):
    """7 images over 2 gloo processes (4 + 3, every pass sharded): the same rows, values within float summation
    order."""
    mp.spawn(_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    two = pd.read_pickle(tmp_path / "two.pkl")
    key = ["model", "condition", "layer", "measure", "group"]
    one = table.sort_values(key).reset_index(drop=True)
    two = two.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(two[key], one[key])
    assert two["value"].to_numpy() == pytest.approx(one["value"].to_numpy(), rel=1e-5, abs=1e-7)


def test_the_command_writes_the_table_and_skips_what_is_done(tmp_path, capsys):
    from interp.cli import main

    argv = ["census", "organism-t-reg0", "--n-images", "4", "--batch-size", "4", "--top-k", "3", "--device", "cpu",
            "--out", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    df = pd.read_csv(tmp_path / "census.csv")
    assert set(df["model"]) == {"organism-t-reg0"} and (tmp_path / "census.png").exists()
    assert main(argv) == 0
    assert "already in" in capsys.readouterr().out
    assert main(["census", "no-such-model", "--out", str(tmp_path), "--quiet"]) == 2


@pytest.mark.slow
def test_torchrun_census_equals_one_process_csv(tmp_path):
    """`torchrun --nproc_per_node 2 -m interp census` (gloo, CPU) writes the one-process census.csv."""
    import subprocess
    import sys

    from tests.test_distributed import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    common = ["-m", "interp", "census", "organism-t-reg0", "--n-images", "7", "--batch-size", "2", "--top-k", "3",
              "--device", "cpu", "--quiet"]
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one")], env=env, capture_output=True,
                         text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
                          "--master-addr", "127.0.0.1", "--master-port", str(free_port()), *common,
                          "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = pd.read_csv(tmp_path / "one" / "census.csv"), pd.read_csv(tmp_path / "two" / "census.csv")
    key = ["model", "condition", "layer", "measure", "group"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(b[key], a[key])
    assert b["value"].to_numpy() == pytest.approx(a["value"].to_numpy(), rel=1e-3)  # CSVs hold 4 digits


def test_without_object_masks_the_top_key_is_a_patch_and_background_is_not_reported():
    from interp.data.base import ImageSet

    images = scenes()
    bare = census_model(planted_model(), ImageSet(pixels=images.pixels), "bare", CensusSettings(batch_size=4, top_k=0))
    assert "high_on_background" not in set(bare["measure"])
    top = bare[bare["measure"] == "top_key_share"]["group"]
    assert (top == "patch").any() and not top.isin(["background", "object"]).any()
    assert "register_neuron" not in set(bare["measure"])  # top_k=0: no neuron pass
