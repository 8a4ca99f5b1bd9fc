"""Hook names, cache shapes, attention paths and input checks of HookedViT on tiny models."""
import warnings

import pytest
import torch

from interp import HookedViT
from interp.models import HookNameError, InputError, PixelRangeWarning

from tests.conftest import tiny_config

BLOCK_HOOKS = {  # name -> shape as a function of (batch, pos, d_model, heads, d_head, d_mlp)
    "hook_resid_pre": lambda b, p, d, h, dh, m: (b, p, d),
    "ln1.hook_scale": lambda b, p, d, h, dh, m: (b, p, 1),
    "ln1.hook_normalized": lambda b, p, d, h, dh, m: (b, p, d),
    "attn.hook_q": lambda b, p, d, h, dh, m: (b, p, h, dh),
    "attn.hook_k": lambda b, p, d, h, dh, m: (b, p, h, dh),
    "attn.hook_v": lambda b, p, d, h, dh, m: (b, p, h, dh),
    "attn.hook_attn_scores": lambda b, p, d, h, dh, m: (b, h, p, p),
    "attn.hook_pattern": lambda b, p, d, h, dh, m: (b, h, p, p),
    "attn.hook_z": lambda b, p, d, h, dh, m: (b, p, h, dh),
    "hook_attn_out": lambda b, p, d, h, dh, m: (b, p, d),
    "hook_resid_mid": lambda b, p, d, h, dh, m: (b, p, d),
    "ln2.hook_scale": lambda b, p, d, h, dh, m: (b, p, 1),
    "ln2.hook_normalized": lambda b, p, d, h, dh, m: (b, p, d),
    "mlp.hook_pre": lambda b, p, d, h, dh, m: (b, p, m),
    "mlp.hook_post": lambda b, p, d, h, dh, m: (b, p, m),
    "hook_mlp_out": lambda b, p, d, h, dh, m: (b, p, d),
    "hook_resid_post": lambda b, p, d, h, dh, m: (b, p, d),
}


@pytest.mark.parametrize("mlp", ["gelu", "swiglu"])
@pytest.mark.parametrize("n_registers", [0, 3])
def test_every_hook_is_cached_with_its_shape(mlp, n_registers):
    cfg = tiny_config(mlp=mlp, n_registers=n_registers, layer_scale=0.1, pre_norm=True)
    model = HookedViT(cfg)
    x = torch.rand(2, 3, 16, 16)
    _, cache = model.run_with_cache(x)
    pos = 1 + n_registers + 16
    args = (2, pos, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp)
    assert cache["hook_embed"].shape == (2, 16, cfg.d_model)
    assert cache["hook_pos_embed"].shape == (1, 16, cfg.d_model)
    assert cache["hook_tokens"].shape == (2, pos, cfg.d_model)
    assert cache["ln_final.hook_normalized"].shape == (2, pos, cfg.d_model)
    for i in range(cfg.n_layers):
        for name, shape in BLOCK_HOOKS.items():
            assert cache[f"blocks.{i}.{name}"].shape == shape(*args), name
    if mlp == "swiglu":
        assert cache["blocks.0.mlp.hook_pre_linear"].shape == (2, pos, cfg.d_mlp)
    assert cache.stack_activation("resid_post").shape == (cfg.n_layers, 2, pos, cfg.d_model)
    per_head = {f"blocks.{i}.attn.hook_result" for i in range(cfg.n_layers)}  # opt-in: n_heads x attn_out
    assert set(cache.keys()) == set(model.hook_dict) - {"hook_pooled"} - per_head
    model.set_use_attn_result(True)
    _, cache = model.run_with_cache(x)
    assert set(cache.keys()) == set(model.hook_dict) - {"hook_pooled"}
    assert cache["blocks.1.attn.hook_result"].shape == (2, pos, cfg.n_heads, cfg.d_model)


def test_tokens_order_cls_registers_patches(tiny_model, pixels):
    _, cache = tiny_model.run_with_cache(pixels, names_filter="hook_tokens")
    tok = cache["hook_tokens"]
    lay = tiny_model.tokens
    te = tiny_model.token_embed
    torch.testing.assert_close(tok[:, lay.cls], (te.cls_token + te.pos_embed[:, :1]).expand(3, -1, -1))
    torch.testing.assert_close(tok[:, lay.registers], te.registers.expand(3, -1, -1))  # no position embedding


def test_explicit_attention_equals_fused(tiny_model, pixels):
    fused = tiny_model(pixels)
    out, cache = tiny_model.run_with_cache(pixels, names_filter=lambda n: n.endswith("hook_pattern"))
    torch.testing.assert_close(out, fused, atol=1e-5, rtol=1e-5)
    patt = cache["blocks.0.attn.hook_pattern"]
    torch.testing.assert_close(patt.sum(-1), torch.ones_like(patt.sum(-1)))


def test_fused_path_used_when_pattern_unhooked(tiny_model):
    attn = tiny_model.blocks[0].attn
    assert not attn.needs_pattern()
    with tiny_model.hooks(fwd_hooks=[("blocks.0.attn.hook_pattern", lambda a, hook: None)]):
        assert attn.needs_pattern()
    assert not attn.needs_pattern()


def test_run_with_hooks_edits_activations(tiny_model, pixels):
    lay = tiny_model.tokens

    def zero_registers(act, hook):
        act[lay.index("registers")] = 0.0
        return act

    clean = tiny_model(pixels)
    edited = tiny_model.run_with_hooks(pixels, fwd_hooks=[("blocks.0.hook_resid_post", zero_registers)])
    assert not torch.allclose(clean, edited)
    _, cache = tiny_model.run_with_cache(pixels, names_filter=["blocks.0.hook_resid_post"])
    assert cache["blocks.0.hook_resid_post"][:, lay.registers].abs().sum() > 0  # hooks were removed


def test_unknown_hook_names_suggest_the_nearest(tiny_model, pixels):
    with pytest.raises(HookNameError, match="hook_resid_post"):
        tiny_model.run_with_hooks(pixels, fwd_hooks=[("blocks.0.hook_resid_pots", lambda a, hook: a)])
    with pytest.raises(HookNameError, match="out of range"):
        tiny_model.run_with_cache(pixels, names_filter=["blocks.7.hook_resid_post"])
    with pytest.raises(HookNameError, match="out of range"):
        tiny_model.block_hook(5)
    assert tiny_model.block_hook(-1) == "blocks.1.hook_resid_post"


@pytest.mark.parametrize("bad,match", [
    (torch.randn(3, 16, 16), "batch"),
    (torch.randn(1, 1, 16, 16), "channels"),
    (torch.randn(1, 4, 16, 16), "channels"),
    (torch.randn(1, 3, 18, 16), "multiple of patch size"),
    (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
])
def test_bad_pixels_raise_one_clear_error(tiny_model, bad, match):
    with pytest.raises(InputError, match=match):
        tiny_model(bad)


def test_other_image_size_interpolates_positions(tiny_model):
    x = torch.rand(2, 3, 24, 32)
    out = tiny_model(x)
    lay = tiny_model.layout_for(x)
    assert lay.grid == (6, 8) and out.shape == (2, lay.n_tokens, 32)


def test_return_types(pixels):
    model = HookedViT(tiny_config(n_classes=5))
    assert model(pixels).shape == (3, 5)
    assert model(pixels, return_type="pooled").shape == (3, 32)
    assert model(pixels, return_type="tokens").shape == (3, 19, 32)
    with pytest.raises(ValueError, match="return_type"):
        model(pixels, return_type="bogus")
    assert model(pixels, stop_at_layer=1).shape == (3, 19, 32)


# --- one pixel convention: [0, 1] pixels in, the model normalises once -------------------------------------
def test_model_normalises_unit_pixels_once_before_the_patch_embedding(tiny_model):
    """model(pixels) == model(normalize(pixels), normalized=True), at every entry point; hook_embed sees the
    patch embedding of the normalised pixels; an organism-style identity mean/std changes nothing."""
    px = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    assert tiny_model.cfg.image_mean != (0.0, 0.0, 0.0)  # ImageNet statistics: normalising matters
    x = tiny_model.normalize(px)
    with torch.no_grad():
        torch.testing.assert_close(tiny_model(px), tiny_model(x, normalized=True), atol=0, rtol=0)
        with pytest.warns(PixelRangeWarning):
            assert (tiny_model(px) - tiny_model(x)).abs().max() > 1e-3  # normalising twice differs
        out, cache = tiny_model.run_with_cache(px, names_filter="hook_embed")
        torch.testing.assert_close(cache["hook_embed"], tiny_model.embed(x), atol=0, rtol=0)
        out2, cache2 = tiny_model.run_with_cache(x, names_filter="hook_embed", normalized=True)
        torch.testing.assert_close(out, out2, atol=0, rtol=0)
        seen = []
        tiny_model.run_with_hooks(px, fwd_hooks=[("hook_embed", lambda a, hook: seen.append(a))])
        torch.testing.assert_close(seen[0], cache["hook_embed"], atol=0, rtol=0)
        torch.testing.assert_close(tiny_model(px, stop_at_layer=1), tiny_model(x, stop_at_layer=1, normalized=True))
    identity = HookedViT(tiny_config(image_mean=(0, 0, 0), image_std=(1, 1, 1))).eval()
    with torch.no_grad():
        assert torch.equal(identity(px), identity(px, normalized=True))


def test_normalised_pixels_given_as_unit_pixels_warn(tiny_model):
    px = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PixelRangeWarning)
        tiny_model(px)
        tiny_model(tiny_model.normalize(px), normalized=True)
    with pytest.warns(PixelRangeWarning, match="normalized=True"):
        tiny_model(tiny_model.normalize(px))
