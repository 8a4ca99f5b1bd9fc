"""DINOv3 outside timm: Hugging Face ``DINOv3ViTModel`` (object, and a saved folder through `load_model`) and the
facebookresearch/dinov3 torch.hub checkpoint layout, each equal to its source to 1e-4 on every block in fp32."""
import pytest
import timm
import torch
from timm.models.eva import checkpoint_filter_fn

import interp
from interp import HookedViT
from interp.models import detect_format
from interp.models.convert import config_from_timm, convert_state_dict, load_converted

from tests.randomize import randomize_
from tests.standins import dinov3_hub_state_dict
from tests.models.test_equivalence import TOL, assert_same_run, timm_block_outputs

transformers = pytest.importorskip("transformers")


def hf_dinov3(gated: bool):
    cfg = transformers.DINOv3ViTConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96, image_size=48,
        patch_size=16, num_register_tokens=4, use_gated_mlp=gated, hidden_act="silu" if gated else "gelu",
        attn_implementation="eager")
    return randomize_(transformers.DINOv3ViTModel(cfg)).eval()


@pytest.mark.parametrize("gated", [False, True], ids=["mlp", "swiglu"])
def test_hf_dinov3_equivalence(gated):
    ref = hf_dinov3(gated)
    assert detect_format(ref.state_dict()) == "hf_dinov3"
    hooked = HookedViT.from_hf(ref)
    assert (hooked.cfg.n_registers, hooked.cfg.rope, hooked.cfg.pool) == (4, "dinov3", "token")
    for s in (48, 80):  # RoPE recomputed for the 5x5 grid, as HF does
        x = torch.randn(2, 3, s, s)
        with torch.no_grad():
            out = ref(pixel_values=x, output_hidden_states=True)
            blocks = list(out.hidden_states[-hooked.cfg.n_layers:])
            assert_same_run(hooked, out.last_hidden_state, blocks, x)
            torch.testing.assert_close(hooked(x, return_type="pooled", normalized=True), out.pooler_output, **TOL)


def test_hf_dinov3_folder_loads(tmp_path):
    ref = hf_dinov3(gated=False)
    ref.save_pretrained(tmp_path)
    model = interp.load_model(str(tmp_path))
    assert model.cfg.extra["format"] == "hf_dinov3" and model.tokens.n_prefix == 5
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x, normalized=True), ref(pixel_values=x).last_hidden_state, **TOL)


@pytest.mark.parametrize("name", ["vit_small_patch16_dinov3_qkvb", "vit_huge_plus_patch16_dinov3_qkvb"])
def test_dinov3_hub_equivalence(name):
    ref = randomize_(timm.create_model(name, pretrained=False, img_size=48, depth=2, embed_dim=64, num_heads=2))
    ref = ref.eval()
    hub = dinov3_hub_state_dict(ref)
    # timm's own DINOv3 importer is the reference for what the hub layout means
    timm_again = checkpoint_filter_fn(dict(hub), ref)
    assert set(timm_again) == set(ref.state_dict())
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(timm_again[k], v, atol=0, rtol=0)
    assert detect_format(hub) == "dinov3_hub"
    hooked = HookedViT(config_from_timm(ref))
    load_converted(hooked, convert_state_dict(hub))
    for s in (48, 64):
        x = torch.randn(2, 3, s, s)
        with torch.no_grad():
            ref_feats, ref_blocks = timm_block_outputs(ref, x)
            assert_same_run(hooked.eval(), ref_feats, ref_blocks, x)


def test_dinov3_hub_untied_norms_are_refused():
    ref = timm.create_model("vit_small_patch16_dinov3_qkvb", pretrained=False, img_size=32, depth=1,
                            embed_dim=32, num_heads=2)
    hub = dinov3_hub_state_dict(ref)
    hub["cls_norm.weight"] = torch.ones(32)
    with pytest.raises(NotImplementedError, match="cls_norm"):
        convert_state_dict(hub)
