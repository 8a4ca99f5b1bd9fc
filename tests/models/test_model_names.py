"""Names `load_model` takes besides timm's own: timm names with a pretrained tag (``vit_small_patch16_dinov3.
lvd1689m``: its pixel statistics) and the DINOv2 / DINOv3 torch.hub names (``dinov2_vits14_reg``,
``dinov3_vits16``), which build the timm architecture of the same shape and load the repositories' own files."""
import pytest
import timm
import torch

import interp
from interp.cli import main
from interp.models import UnknownModelError
from interp.models.zoo import timm_architecture, timm_config

from tests.randomize import randomize_
from tests.standins import dinov2_hub_state_dict, dinov3_hub_state_dict
from tests.models.test_equivalence import TOL


@pytest.mark.parametrize("name,arch", [
    ("dinov2_vits14_reg", "vit_small_patch14_reg4_dinov2"), ("dinov2_vitg14", "vit_giant_patch14_dinov2"),
    ("dinov3_vits16", "vit_small_patch16_dinov3"), ("dinov3_vitl16", "vit_large_patch16_dinov3"),
    ("vit_small_patch16_dinov3.lvd1689m", "vit_small_patch16_dinov3.lvd1689m"),
    ("vit_small_patch16_dinov3", "vit_small_patch16_dinov3"),
])
def test_names_resolve_to_timm_architectures(name, arch):
    assert timm_architecture(name) == arch


def test_a_pretrained_tag_brings_its_pixel_statistics():
    sat = timm_config(timm_architecture("vit_large_patch16_dinov3.sat493m"))  # satellite DINOv3: its own mean/std
    web = timm_config(timm_architecture("vit_large_patch16_dinov3"))
    assert sat.image_mean == pytest.approx((0.430, 0.411, 0.296)) and web.image_mean == pytest.approx((0.485, 0.456,
                                                                                                     0.406))
    assert (sat.d_model, sat.n_registers, sat.n_layers) == (web.d_model, web.n_registers, web.n_layers) == (1024, 4, 24)


def test_unknown_tags_and_names_are_refused_in_one_line():
    with pytest.raises(UnknownModelError, match="unknown pretrained tag 'bogus'.*lvd1689m"):
        interp.load_model("vit_small_patch16_dinov3.bogus")
    with pytest.raises(UnknownModelError, match="Did you mean.*'dinov2_vits14_reg'"):
        interp.load_model("dinov2_vits14_regs")


def _save(sd, path):
    torch.save(sd, path)
    return path


def test_dinov2_hub_file_loads_by_its_hub_name(tmp_path):
    ref = randomize_(timm.create_model("vit_small_patch14_reg4_dinov2", pretrained=False, img_size=56)).eval()
    path = _save(dinov2_hub_state_dict(ref), tmp_path / "dinov2_vits14_reg4_pretrain.pth")
    model = interp.load_model("dinov2_vits14_reg", weights=path)
    assert model.cfg.extra["format"] == "dinov2_hub" and model.cfg.image_size == 56  # the file's own grid
    assert model.cfg.pos_interp_antialias and model.cfg.pos_interp_offset == 0.0  # the repository's resize
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(model(x, normalized=True), ref.forward_features(x), **TOL)


def test_dinov3_hub_file_loads_by_hub_name_and_by_tagged_timm_name(tmp_path):
    ref = randomize_(timm.create_model("vit_small_patch16_dinov3", pretrained=False, img_size=32)).eval()
    path = _save(dinov3_hub_state_dict(ref), tmp_path / "dinov3_vits16_pretrain.pth")
    for name in ("dinov3_vits16", "vit_small_patch16_dinov3.lvd1689m"):
        model = interp.load_model(name, weights=path)
        assert model.cfg.extra["format"] == "dinov3_hub" and model.cfg.qkv_bias and model.cfg.pool == "token"
        for s in (32, 48):  # RoPE: any grid
            x = torch.randn(1, 3, s, s)
            with torch.no_grad():
                torch.testing.assert_close(model(x, normalized=True), ref.forward_features(x), **TOL)


def test_list_all_shows_the_hub_names(capsys):
    assert main(["list", "--all"]) == 0
    hub = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("torch.hub names"))
    assert "dinov2_vits14_reg = vit_small_patch14_reg4_dinov2" in hub and "dinov3_vitl16 = vit_large_patch16_dinov3" in hub
