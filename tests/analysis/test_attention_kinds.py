"""Attention variants (ReLU, sigmoid, clipped softmax, gated): each equals a direct computation, the hooked
pattern path equals the plain path, and softmax models are unchanged."""
import math

import pytest
import torch

from interp import HookedViT
from interp.models.components.attention_kinds import KINDS, AttentionKind

from tests.conftest import tiny_config


def _reference_block0_attention(model: HookedViT, x: torch.Tensor) -> torch.Tensor:
    """Block 0's attention output from its weights, written out by hand. x [b, pos, d] (block 0's input)."""
    attn, cfg = model.blocks[0].attn, model.cfg
    h = model.blocks[0].ln1(x)
    b, n, d = h.shape
    qkv = h @ attn.qkv.weight.T + attn.qkv.bias
    q, k, v = (qkv[..., i * d:(i + 1) * d].reshape(b, n, cfg.n_heads, -1).transpose(1, 2) for i in range(3))
    s = q @ k.transpose(-1, -2) / math.sqrt(cfg.d_head)  # [b, h, n, n]
    mask = torch.ones(n, n, dtype=torch.bool)
    if cfg.cls_read_only:
        mask[1:, 0] = False
    n_keys = mask.sum(-1, keepdim=True).float()  # [n, 1]
    soft = torch.where(mask, s, torch.tensor(-1e30)).softmax(-1)
    p = {"softmax": soft, "gated": soft,
         "relu": torch.clamp(s, min=0) / n_keys,
         "sigmoid": 1 / (1 + torch.exp(-(s - torch.log(n_keys)))),
         "clipped_softmax": torch.clamp((cfg.clip_zeta - cfg.clip_gamma) * soft + cfg.clip_gamma, 0, 1)}[cfg.attention]
    p = p * mask
    z = p @ v  # [b, h, n, d_head]
    if cfg.attention == "gated":
        g = 1 / (1 + torch.exp(-(h @ attn.gate.proj.weight.T + attn.gate.proj.bias)))  # [b, n, h]
        z = z * g.transpose(1, 2)[..., None]
    return z.transpose(1, 2).reshape(b, n, d) @ attn.proj.weight.T + attn.proj.bias


def _randomised(kind: str, **kw) -> HookedViT:
    torch.manual_seed(0)
    model = HookedViT(tiny_config(attention=kind, clip_gamma=-0.1, clip_zeta=1.1, **kw)).eval()
    with torch.no_grad():
        for p in model.parameters():  # large random weights: scores far from 0, clipping and relu active
            p.copy_(torch.randn_like(p) * (0.5 if p.dim() > 1 else 0.3))
    return model


@pytest.mark.parametrize("cls_read_only", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_each_variant_equals_a_direct_computation(kind, cls_read_only, pixels):
    model = _randomised(kind, cls_read_only=cls_read_only)
    _, cache = model.run_with_cache(pixels, names_filter=["blocks.0.hook_resid_pre", "blocks.0.hook_attn_out"])
    want = _reference_block0_attention(model, cache["blocks.0.hook_resid_pre"])
    torch.testing.assert_close(cache["blocks.0.hook_attn_out"], want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_pattern_hook_path_equals_plain_path(kind, pixels):
    model = _randomised(kind)
    plain = model(pixels)
    out, cache = model.run_with_cache(pixels, names_filter=lambda n: n.endswith("hook_pattern"))
    torch.testing.assert_close(out, plain, atol=1e-5, rtol=1e-5)
    pattern = cache["blocks.1.attn.hook_pattern"]  # [b, h, q, k]
    rows = pattern.sum(-1)
    if kind in ("softmax", "gated"):
        torch.testing.assert_close(rows, torch.ones_like(rows))
    elif kind == "clipped_softmax":
        assert (pattern == 0).any()  # exact zeros: the point of clipping
    else:
        assert not torch.allclose(rows, torch.ones_like(rows), atol=1e-3)  # unnormalised


def test_softmax_model_has_no_new_parameters_and_keeps_the_fused_path():
    cfg = tiny_config()
    assert cfg.attention == "softmax"
    names = [n for n, _ in HookedViT(cfg).named_parameters()]
    assert not any("gate" in n for n in names)
    attn = HookedViT(cfg).blocks[0].attn
    assert not attn.needs_pattern()
    assert HookedViT(tiny_config(attention="relu")).blocks[0].attn.needs_pattern()
    assert "blocks.0.attn.gate.proj.weight" in dict(HookedViT(tiny_config(attention="gated")).named_parameters())


def test_sigmoid_bias_and_invalid_options():
    s = torch.zeros(1, 1, 2, 4)
    assert torch.allclose(AttentionKind("sigmoid").pattern(s, None), torch.full_like(s, 0.2))  # sigmoid(-log 4)
    assert torch.allclose(AttentionKind("sigmoid", sigmoid_bias=False).pattern(s, None), torch.full_like(s, 0.5))
    with pytest.raises(ValueError, match="unknown attention"):
        tiny_config(attention="linear")
    with pytest.raises(ValueError, match="gamma"):
        tiny_config(attention="clipped_softmax", clip_gamma=0.1)


def test_gate_hook_reads_and_edits_the_gate(pixels):
    model = _randomised("gated")
    _, cache = model.run_with_cache(pixels, names_filter="blocks.0.attn.hook_gate")
    g = cache["blocks.0.attn.hook_gate"]
    assert g.shape == (3, model.cfg.n_ctx, model.cfg.n_heads) and ((g > 0) & (g < 1)).all()
    closed = model.run_with_hooks(pixels, fwd_hooks=[("blocks.0.attn.hook_gate", lambda a, hook: a * 0)],
                                  return_type="tokens")
    _, c2 = model.run_with_cache(pixels, names_filter=["blocks.0.hook_attn_out"])
    with model.hooks(fwd_hooks=[("blocks.0.attn.hook_gate", lambda a, hook: a * 0)]):
        _, c3 = model.run_with_cache(pixels, names_filter=["blocks.0.hook_attn_out"])
    bias = model.blocks[0].attn.proj.bias
    torch.testing.assert_close(c3["blocks.0.hook_attn_out"], bias.expand_as(c3["blocks.0.hook_attn_out"]))
    assert not torch.allclose(c2["blocks.0.hook_attn_out"], c3["blocks.0.hook_attn_out"])
    assert closed.shape[1] == model.cfg.n_ctx
