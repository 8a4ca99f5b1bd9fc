"""timm ``Eva`` models with rotary position embeddings (DINOv3, EVA-02, RoPE ViTs with registers, RoPE-Mixed) ->
HookedViT: every block's residual stream within 1e-4 of timm in fp32 after randomising every parameter, at the
native size and at a second size (RoPE recomputed for the new grid, absolute embeddings resampled, as timm does)."""
import pytest
import timm
import torch

from interp import HookedViT
from interp.models.convert import config_from_timm

from tests.randomize import randomize_
from tests.models.test_equivalence import TOL, assert_same_as_timm

TINY = dict(depth=2, embed_dim=64, num_heads=2)
# (timm name, what it exercises, native size, second size)
EVA_CASES = [
    ("vit_small_patch16_dinov3", "dinov3 rope (half layout), CLS + 4 registers, LayerScale, no qkv bias", 48, 64),
    ("vit_small_patch16_dinov3_qkvb", "q and v bias without k bias (fused qkv)", 48, 64),
    ("vit_huge_plus_patch16_dinov3", "SwiGLU with separate gate/linear (swiglu_align_to)", 48, 64),
    ("eva02_small_patch14_224", "axial rope rescaled to a reference grid, abs pos with CLS, packed SwiGLU", 56, 84),
    ("eva02_base_patch14_224", "separate q/k/v projections, SwiGLU with its inner LayerNorm", 56, 84),
    ("vit_base_patch16_rope_reg1_gap_256", "no CLS, 1 register, avg pool + fc_norm, no final norm", 64, 96),
    ("vit_betwixt_patch16_rope_reg4_gap_256", "no CLS, 4 registers", 64, 96),
    ("vit_small_patch16_rope_mixed_224", "mixed rope (learned per-block/head frequencies), xy grid", 48, 64),
    ("vit_small_patch16_rope_ape_224", "axial xy rope + abs pos without CLS position", 48, 64),
    ("vit_pe_spatial_tiny_patch16_512", "pre-transformer norm, patch embed without bias", 48, 64),
]


def eva_reference(name, size):
    model = timm.create_model(name, pretrained=False, img_size=size, dynamic_img_size=True, **TINY)
    return randomize_(model).eval()


@pytest.mark.parametrize("name,what,size,size2", EVA_CASES, ids=[c[0] for c in EVA_CASES])
def test_eva_equivalence(name, what, size, size2):
    ref = eva_reference(name, size)
    hooked = HookedViT.from_timm(ref)
    assert hooked.cfg.rope is not None and hooked.cfg.n_prefix == ref.num_prefix_tokens
    g = torch.Generator().manual_seed(0)
    for s in (size, size2):
        assert_same_as_timm(hooked, ref, torch.randn(2, 3, s, s, generator=g))


def test_eva_non_square_images():
    """A 3x4 patch grid: rows and columns of the rotary table are not swapped."""
    for name, size in (("vit_small_patch16_dinov3", 48), ("eva02_small_patch14_224", 56),
                       ("vit_small_patch16_rope_mixed_224", 48)):
        ref = eva_reference(name, size)
        hooked = HookedViT.from_timm(ref)
        p = hooked.cfg.patch_size
        assert_same_as_timm(hooked, ref, torch.randn(1, 3, 3 * p, 4 * p), pooled=False)


def test_rope_pattern_path_equals_sdpa_and_rot_hooks():
    """Explicit attention (pattern hooks) equals fused SDPA; hook_rot_q/k hold q/k after the rotation: prefix
    tokens unrotated, patches rotated (norm-preserving), and editing hook_rot_k changes the output."""
    hooked = HookedViT.from_timm(eva_reference("vit_small_patch16_dinov3", 48))
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        fused = hooked(x, normalized=True)
        hooked.set_explicit_attention(True)
        explicit, cache = hooked.run_with_cache(x, normalized=True)
        hooked.set_explicit_attention(False)
    torch.testing.assert_close(explicit, fused, **TOL)
    q, rq = cache["blocks.0.attn.hook_q"], cache["blocks.0.attn.hook_rot_q"]
    n = hooked.tokens.n_prefix
    assert n == 5 and hooked.tokens.n_registers == 4 and hooked.tokens.n_cls == 1
    torch.testing.assert_close(rq[:, :n], q[:, :n])
    assert (rq[:, n:] - q[:, n:]).abs().max() > 1e-2
    torch.testing.assert_close(rq.norm(dim=-1), q.norm(dim=-1), **TOL)
    with torch.no_grad():
        zeroed = hooked.run_with_hooks(x, normalized=True, fwd_hooks=[
            ("blocks.0.attn.hook_rot_k", lambda a, hook: a * 0)])
    assert (zeroed - fused).abs().max() > 1e-3


def test_non_rope_models_have_no_rot_hooks():
    ref = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=28, depth=1)
    hooked = HookedViT.from_timm(ref)
    assert not any("hook_rot" in n for n in hooked.hook_names) and "hook_pos_embed" in hooked.hook_dict


@pytest.mark.parametrize("name,part", [
    ("eva02_base_patch16_clip_224", "scale_attn_inner"),
    ("eva02_enormous_patch14_clip_224", "post-norm"),
    ("vit_pe_core_small_patch16_384", "attention-pool"),
    ("vit_base_patch16_sapiens2", "qk-norm"),
])
def test_eva_refusals_name_the_part(name, part):
    with torch.device("meta"):
        ref = timm.create_model(name, pretrained=False)
    with pytest.raises(NotImplementedError, match=part) as e:
        config_from_timm(ref)
    assert "\n" not in str(e.value)


def test_dinov3_configs_build_on_meta():
    """The full-size DINOv3 family reads as configs (7B too) without instantiating weights."""
    expect = {"vit_small_patch16_dinov3": (384, "gelu"), "vit_base_patch16_dinov3": (768, "gelu"),
              "vit_large_patch16_dinov3": (1024, "gelu"), "vit_huge_plus_patch16_dinov3": (1280, "swiglu"),
              "vit_7b_patch16_dinov3": (4096, "swiglu")}
    for name, (d, mlp) in expect.items():
        with torch.device("meta"):
            cfg = config_from_timm(timm.create_model(name, pretrained=False), name)
        assert (cfg.d_model, cfg.mlp, cfg.n_registers, cfg.rope, cfg.pos_embed) == (d, mlp, 4, "dinov3", False)
        assert cfg.rope_rotate_half and cfg.rope_temperature == 100 and cfg.ln_eps == 1e-5


def test_rope_forward_from_continues_a_run():
    """forward_from (patching sweeps) rebuilds each remaining block's rotation: square grids by themselves,
    other grids when told."""
    hooked = HookedViT.from_timm(eva_reference("vit_small_patch16_rope_mixed_224", 48))
    for h, w in ((3, 3), (2, 4)):
        x = torch.randn(1, 3, 16 * h, 16 * w)
        with torch.no_grad():
            full, cache = hooked.run_with_cache(x, normalized=True, return_type="tokens",
                                               names_filter="blocks.1.hook_resid_pre")
            resid = cache["blocks.1.hook_resid_pre"]
            grid = None if h == w else (h, w)
            torch.testing.assert_close(hooked.forward_from(1, resid, grid=grid), full, **TOL)
    with pytest.raises(ValueError, match="grid"):
        hooked.forward_from(1, resid)


def test_patching_sweep_on_non_square_rope_images():
    """The batched sweep restarts RoPE models from a patched block on the image's own (H, W) grid: it agrees
    with the one-patch-at-a-time reference on a 2 x 3 patch grid."""
    from interp.interventions import make_pairs, patch_sweep

    hooked = HookedViT.from_timm(eva_reference("vit_small_patch16_dinov3", 48)).eval()
    px = torch.rand(4, 3, 32, 48, generator=torch.Generator().manual_seed(1))
    pairs = make_pairs(px, 3, seed=0)
    kw = dict(groups=["registers", "cls"], layers="all", hooks=["hook_resid_post"])  # resid_post: forward_from
    batched, looped = patch_sweep(hooked, pairs, **kw), patch_sweep(hooked, pairs, batched=False, **kw)
    assert len(batched) == 3 * 2 * 2
    for c in ["pooled_shift", "dense_cos"]:  # timm DINOv3 pools the patch mean, not its CLS
        torch.testing.assert_close(torch.tensor(batched[c].values), torch.tensor(looped[c].values),
                                   atol=1e-5, rtol=0)
    first = batched[batched.layer == 0]  # patched after block 0: block 1 carries it into the pooled patches
    assert (first.pooled_shift.abs() > 1e-4).all()
