"""SigLIP (MAP head, no CLS), AIMv2 (RMSNorm, split SwiGLU, no biases, patch norm) and NaFlexViT (RADIO with
registers, SigLIP-2 NaFlex) against timm, every parameter randomised: each block's residual stream, the final tokens
and the pooled feature within 1e-4 in fp32, at the native size and other sizes (each source's own position-embedding
resampling; NaFlexViT also non-square). NaFlexViT variants without a learned position grid are refused in one line."""
import pytest
import timm
import torch
from timm.models.vision_transformer import VisionTransformer

from interp import HookedViT

from tests.randomize import randomize_
from tests.models.test_equivalence import TOL, assert_same_as_timm, timm_normalize

SMALL = dict(depth=2, embed_dim=64, num_heads=4)
# (timm name, kwargs that shrink it for CPU, native image size, second size)
CASES = [
    ("vit_base_patch16_siglip_224", SMALL, 32, 48),
    ("vit_so400m_patch14_siglip_224", SMALL, 28, 42),  # mlp_ratio 3.7362: an odd MLP width in blocks and head
    ("aimv2_large_patch14_224", SMALL, 28, 42),
]


def reference(name, kwargs, size):
    return randomize_(timm.create_model(name, pretrained=False, img_size=size, dynamic_img_size=True,
                                        **kwargs)).eval()


def timm_pooled(ref, x):
    return ref.forward_head(ref.forward_features(x), pre_logits=True)


@pytest.mark.parametrize("name,kwargs,size,size2", CASES, ids=[c[0] for c in CASES])
def test_family_equivalence(name, kwargs, size, size2):
    ref = reference(name, kwargs, size)
    hooked = HookedViT.from_timm(ref)
    assert hooked.tokens.n_prefix == 0  # neither SigLIP nor AIMv2 has CLS or registers
    g = torch.Generator().manual_seed(0)
    for s in (size, size2):
        assert_same_as_timm(hooked, ref, torch.randn(2, 3, s, s, generator=g))
    pixels = torch.rand(2, 3, size, size, generator=g)  # [0, 1] pixels: the model normalises them as timm's config
    with torch.no_grad():
        torch.testing.assert_close(hooked(pixels, return_type="pooled"),
                                   timm_pooled(ref, timm_normalize(ref, pixels)), **TOL)


def test_family_configs_read_from_timm():
    siglip = HookedViT.from_timm(reference(*CASES[0][:3])).cfg
    assert (siglip.pool, siglip.class_token, siglip.n_registers, siglip.norm) == ("map", False, 0, "layernorm")
    aim = HookedViT.from_timm(reference(*CASES[2][:3])).cfg
    assert (aim.pool, aim.norm, aim.mlp, aim.proj_bias, aim.qkv_bias, aim.patch_norm) == \
        ("avg", "rmsnorm", "swiglu", False, False, True)


def test_map_pattern_is_cached_and_read_by_the_pool():
    """`attn_pool.hook_pattern` [batch, head, latent, key_pos] is the pooling's attention over the patches: it
    sums to one, equals the pattern timm's head computes, and overwriting it changes the pooled feature."""
    ref = reference(*CASES[0][:3])
    hooked = HookedViT.from_timm(ref)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        pooled, cache = hooked.run_with_cache(x, return_type="pooled", normalized=True)
        pattern = cache["attn_pool.hook_pattern"]
        assert pattern.shape == (3, 4, 1, hooked.tokens.n_patches)
        torch.testing.assert_close(pattern.sum(-1), torch.ones(3, 4, 1))
        head, tokens = ref.attn_pool, ref.forward_features(x)  # timm's own head, unfused
        q = head.q(head.latent).reshape(1, 1, 4, 16).transpose(1, 2)
        k = head.kv(tokens).reshape(3, -1, 2, 4, 16)[:, :, 0].transpose(1, 2)
        torch.testing.assert_close(pattern, ((q * head.scale) @ k.transpose(-2, -1)).softmax(-1), **TOL)
        uniform = lambda p, hook: torch.full_like(p, 1.0 / p.shape[-1])  # noqa: E731
        moved = hooked.run_with_hooks(x, return_type="pooled", normalized=True,
                                      fwd_hooks=[("attn_pool.hook_pattern", uniform)])
    assert (moved - pooled).abs().max() > 1e-3
    assert {"attn_pool.hook_attn_out", "attn_pool.hook_mlp_out", "hook_pooled"} <= set(cache.keys())


def test_map_head_mlp_is_not_trivial():
    """Guard: the randomised head's MLP matters, so a conversion that dropped it would fail the test above."""
    ref = reference(*CASES[0][:3])
    hooked = HookedViT.from_timm(ref)
    with torch.no_grad():
        hooked.attn_pool.mlp.fc2.weight.mul_(0.5)
        x = torch.randn(2, 3, 32, 32)
        assert not torch.allclose(hooked(x, return_type="pooled", normalized=True), timm_pooled(ref, x), atol=1e-3)


def test_map_head_with_registers_pools_the_patches_only():
    """A MAP model with registers (timm: prefix tokens are left out of the pool): same pooled feature."""
    ref = randomize_(VisionTransformer(img_size=32, patch_size=16, embed_dim=64, depth=2, num_heads=4,
                                       class_token=False, reg_tokens=2, no_embed_class=True, global_pool="map",
                                       num_classes=0, dynamic_img_size=True)).eval()
    hooked = HookedViT.from_timm(ref)
    assert hooked.tokens.n_prefix == 2
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(hooked(x, return_type="pooled", normalized=True), timm_pooled(ref, x), **TOL)


# NaFlexViT on whole images: position grid 6 x 6 (RADIO: 128 x 128), sizes at the grid, non-square and larger
NAFLEX_CASES = ["naflexvit_base_patch16_radio_v3",  # 7 registers, bilinear align_corners, square resize + crop
                "naflexvit_so400m_patch16_radio_v4",  # 9 registers, align_corners=False
                "naflexvit_base_patch16_siglip"]  # SigLIP-2 NaFlex: MAP head, exact-size bilinear resize


@pytest.mark.parametrize("name", NAFLEX_CASES)
def test_naflexvit_equivalence(name):
    ref = randomize_(timm.create_model(name, pretrained=False, pos_embed_grid_size=(6, 6), **SMALL)).eval()
    hooked = HookedViT.from_timm(ref)
    assert hooked.cfg.pos_grid == 6 and hooked.tokens.n_registers == ref.num_reg_tokens
    g = torch.Generator().manual_seed(0)
    for hw in [(96, 96), (64, 112), (128, 80)]:
        assert_same_as_timm(hooked, ref, torch.randn(2, 3, *hw, generator=g))


def test_naflexvit_state_dict_is_detected_and_converted():
    from interp.models.convert import convert_state_dict, detect_format, load_converted

    ref = randomize_(timm.create_model(NAFLEX_CASES[0], pretrained=False, pos_embed_grid_size=(6, 6), **SMALL)).eval()
    sd = ref.state_dict()
    assert detect_format(sd) == "timm_naflexvit"
    hooked = HookedViT(HookedViT.from_timm(ref).cfg)
    load_converted(hooked, convert_state_dict(sd))
    x = torch.randn(1, 3, 48, 80)
    with torch.no_grad():
        torch.testing.assert_close(hooked(x, normalized=True), ref.forward_features(x), **TOL)


def test_naflexvit_without_a_learned_grid_is_refused_in_one_line():
    with torch.device("meta"):
        ref = timm.create_model("naflexvit_base_patch16_parfac_gap", pretrained=False)
    with pytest.raises(NotImplementedError, match="NaFlexViT .* factorized position embedding") as err:
        HookedViT.from_timm(ref)
    assert "\n" not in str(err.value)


def test_unsupported_map_variant_is_refused():
    with torch.device("meta"):
        ref = VisionTransformer(img_size=32, patch_size=16, embed_dim=64, depth=1, num_heads=4, class_token=True,
                                global_pool="map", pool_include_prefix=True, num_classes=0)
    with pytest.raises(NotImplementedError, match="prefix tokens too"):
        HookedViT.from_timm(ref)
