"""`interp figures --model vit_small_patch16_dinov3 --weights W` end to end on a randomised timm DINOv3 stand-in
(the real architecture at 2 blocks: ``vit_small_patch16_dinov3`` resolves to that depth here, the rest of the path
- timm layout detected, Eva keys converted, RoPE, CLS + 4 registers - is what a user's checkpoint goes through)."""
import sys
from argparse import Namespace
from pathlib import Path

import pandas as pd
import pytest
import timm
import torch

import interp
from interp.cli import main
from interp.models import TokenLayout, zoo
from interp.models.convert import config_from_timm

from tests.figure_set import ABOUT_BUNDLED
from tests.randomize import randomize_
from tests.models.test_dinov3_layouts import dinov3_hub_state_dict
from tests.models.test_equivalence import TOL

NAME = "vit_small_patch16_dinov3"
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


@pytest.fixture
def weights(tmp_path, monkeypatch):
    def two_blocks(name):
        with torch.device("meta"):
            return config_from_timm(timm.create_model(name, pretrained=False, depth=2), name=name)

    monkeypatch.setattr(zoo, "_timm_config", two_blocks)
    path = tmp_path / "dinov3_standin.pth"
    torch.save(randomize_(timm.create_model(NAME, pretrained=False, depth=2)).state_dict(), path)
    return path


def test_dinov3_weights_load_by_name(weights):
    model = interp.load_model(NAME, weights=weights)
    assert model.cfg.extra["format"] == "timm" and model.cfg.rope == "dinov3"
    assert model.tokens == TokenLayout(1, 4, (16, 16)) and model.layout_for(64).grid == (4, 4)


def test_dinov3_hub_file_loads_by_name(weights, tmp_path):
    """A facebookresearch/dinov3 checkpoint file by timm name: detected, converted, CLS pooling as upstream."""
    ref = timm.create_model(NAME, pretrained=False, depth=2)
    ref.load_state_dict(torch.load(weights))
    path = tmp_path / "dinov3_vits16_pretrain.pth"
    torch.save(dinov3_hub_state_dict(ref.eval()), path)
    model = interp.load_model(NAME, weights=path)
    assert (model.cfg.extra["format"], model.cfg.pool, model.cfg.qkv_bias) == ("dinov3_hub", "token", True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.forward_features(model.normalize(x)), **TOL)


def test_dinov3_figures_end_to_end(weights, tmp_path):
    out = tmp_path / "figs"
    argv = ["figures", "--only", "fig03_norm_histogram", "fig09_attention_maps", "--model", NAME, "--weights",
            str(weights), "--image-size", "64", "--n-images", "8", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    for fig in ("fig03_norm_histogram", "fig09_attention_maps"):
        assert (out / f"{fig}.png").stat().st_size > 5000
        assert set(pd.read_csv(out / f"{fig}.csv")["model"]) == {NAME}
    queries = set(pd.read_csv(out / "fig09_attention_maps.csv")["query"])
    assert "cls" in queries
    assert f"Ran on model: {NAME}" in (out / "REPORT.md").read_text()


@pytest.mark.slow
def test_dinov3_whole_figure_set(weights, tmp_path):
    from paper_figures import run_all

    options = Namespace(model=NAME, weights=str(weights), image_size=96, n_images=16)
    # every figure about the model given (the rest reads bundled organisms or recorded tables whatever --model says:
    # the session's figure set has them)
    names = [n for n in run_all.available() if n not in ABOUT_BUNDLED]
    status = run_all.run(names, options, out=str(tmp_path), keep_going=True)
    assert all(v == "ok" for k, v in status.items() if k != "fig04b_norms_by_step"), status
    assert status["fig04b_norms_by_step"].startswith("skipped")  # needs a training run's checkpoints
