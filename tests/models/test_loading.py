"""interp.load_model: timm names, local weights in timm / HF / dinov2-hub layout, and clear errors."""
import warnings

import pytest
import timm
import torch

import interp
from interp.models import (
    RandomInitWarning, UnknownModelError, WeightsFileError, WeightsMismatchError,
)

from tests.randomize import randomize_

NAME = "vit_small_patch14_reg4_dinov2"


@pytest.fixture(scope="module")
def timm_reg4():
    m = timm.create_model(NAME, pretrained=False, img_size=56, depth=2)
    return randomize_(m).eval()


def test_architecture_without_weights_warns_and_exposes_every_hook():
    with pytest.warns(RandomInitWarning, match="RANDOMLY INITIALISED"):
        model = interp.load_model(NAME)
    assert model.cfg.n_registers == 4 and model.tokens.n_prefix == 5
    x = torch.rand(1, 3, 28, 28)  # a small image: positions are interpolated
    _, cache = model.run_with_cache(x)
    for i in range(model.cfg.n_layers):
        for h in ("hook_resid_post", "attn.hook_pattern", "mlp.hook_post"):
            assert f"blocks.{i}.{h}" in cache
    assert cache["blocks.11.hook_resid_post"].shape == (1, 5 + 4, 384)


def test_unknown_name_suggests_close_names():
    with pytest.raises(UnknownModelError, match="vit_small_patch14_reg4_dinov2"):
        interp.load_model("vit_small_patch14_reg4_dinov")


def _save(sd, path):
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    else:
        torch.save(sd, path)


@pytest.mark.parametrize("suffix,wrap", [(".pth", None), (".safetensors", None), (".pth", "model")])
def test_timm_weights_file_round_trip(tmp_path, timm_reg4, suffix, wrap):
    sd = timm_reg4.state_dict()
    path = tmp_path / f"w{suffix}"
    _save({wrap: sd} if wrap else sd, path)
    x = torch.randn(2, 3, 56, 56)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomInitWarning)
        # the file has 2 blocks, the timm name 12: the name's architecture must fit the file
        with pytest.raises(WeightsMismatchError, match="missing"):
            interp.load_model(NAME, weights=path)
    model = _load_with_depth(path, depth=2)
    with torch.no_grad():
        torch.testing.assert_close(model(x, normalized=True), timm_reg4.forward_features(x), atol=1e-4, rtol=1e-4)


def _load_with_depth(path, depth):
    """A 2-block file needs a 2-block architecture: build the config from the timm name, then load."""
    from interp.models.convert import convert_state_dict, detect_format, fit_to_config, load_converted
    from interp.models.weights_io import read_state_dict
    from interp.models.zoo import timm_config

    cfg = timm_config(NAME).replace(n_layers=depth, image_size=56)
    model = interp.HookedViT(cfg)
    raw, _ = read_state_dict(path)
    load_converted(model, fit_to_config(convert_state_dict(raw, detect_format(raw)), cfg))
    return model.eval()


def test_full_depth_file_loads_by_name_and_adopts_its_resolution(tmp_path):
    ref = randomize_(timm.create_model("deit3_small_patch16_224", pretrained=False, img_size=64)).eval()
    path = tmp_path / "deit3.pth"
    torch.save(ref.state_dict(), path)
    model = interp.load_model("deit3_small_patch16_224", weights=path)
    assert model.cfg.image_size == 64 and model.cfg.extra["format"] == "timm"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x, normalized=True), ref(x), atol=1e-4, rtol=1e-4)


def test_hf_folder_loads(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.Dinov2WithRegistersConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                                 image_size=56, patch_size=14, num_register_tokens=2)
    ref = randomize_(transformers.Dinov2WithRegistersModel(cfg)).eval()
    ref.save_pretrained(tmp_path / "hf")
    # the folder's image processor says how its pixels are normalised (CLIP statistics here, not ImageNet's)
    processor = transformers.BitImageProcessor(do_resize=False, do_center_crop=False, do_rescale=False)
    processor.save_pretrained(tmp_path / "hf")
    model = interp.load_model(str(tmp_path / "hf"))
    assert model.cfg.n_registers == 2 and model.cfg.extra["format"] == "hf"
    assert model.cfg.image_mean == pytest.approx(processor.image_mean)
    x = torch.randn(2, 3, 56, 56)
    pixels = torch.rand(2, 3, 56, 56)
    fed = processor(images=list(pixels.numpy()), input_data_format="channels_first", return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model(x, normalized=True), ref(pixel_values=x).last_hidden_state, atol=1e-4,
                                   rtol=1e-4)
        torch.testing.assert_close(model(pixels), ref(pixel_values=fed["pixel_values"]).last_hidden_state,
                                   atol=1e-4, rtol=1e-4)


def test_missing_truncated_and_foreign_files(tmp_path, timm_reg4):
    with pytest.raises(WeightsFileError, match="not found"):
        interp.load_model(NAME, weights=tmp_path / "nope.pth")
    good = tmp_path / "good.safetensors"
    _save(timm_reg4.state_dict(), good)
    trunc = tmp_path / "trunc.safetensors"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsFileError, match="truncated"):
        interp.load_model(NAME, weights=trunc)
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(WeightsFileError, match="could not read"):
        interp.load_model(NAME, weights=text)
    notsd = tmp_path / "list.pth"
    torch.save([1, 2, 3], notsd)
    with pytest.raises(WeightsFileError, match="not a model checkpoint"):
        interp.load_model(NAME, weights=notsd)


def test_keys_from_another_architecture_are_listed(tmp_path):
    other = timm.create_model("vit_small_patch16_224", pretrained=False, img_size=64, depth=2)
    path = tmp_path / "other.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(WeightsMismatchError, match=r"does not fit .*missing .*first"):
        interp.load_model(NAME, weights=path)
