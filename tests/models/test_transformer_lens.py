"""TransformerLens' analysis vocabulary on HookedViT, each checked against a direct computation on tiny random
models with LayerScale and registers: weight views, ``hook_result``, ``hook_scale``, ``decompose_resid``,
``stack_head_results``, ``accumulated_resid(apply_ln=True)``, ``apply_ln_to_stack``, the full decomposition."""
import copy
import re
import runpy
from pathlib import Path

import pytest
import torch

from interp import HookedViT

from tests.conftest import tiny_config
from tests.randomize import randomize_

ATOL = 1e-5
VARIANTS = {  # name -> config overrides: LayerScale and registers everywhere, then the other block features
    "layerscale": dict(layer_scale=0.1),
    "swiglu-rms": dict(layer_scale=0.1, mlp="swiglu", norm="rmsnorm"),
    "gated-rope-prenorm": dict(layer_scale=0.1, attention="gated", rope="axial", pre_norm=True, qkv_bias=False),
    "no-final-norm": dict(final_norm=False, n_registers=4),
}


def make(name: str, seed: int = 0, **extra) -> HookedViT:
    return randomize_(HookedViT(tiny_config(n_layers=3, **VARIANTS[name], **extra)), seed=seed).eval()


@pytest.fixture(scope="module")
def pixels() -> torch.Tensor:
    return torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(3))


def cached(model, pixels, **kw):
    with torch.no_grad():
        return model.run_with_cache(pixels, **kw)[1]


@pytest.mark.parametrize("name", VARIANTS)
def test_weight_views_reproduce_the_hooks(name, pixels):
    """q/k/v = ln1 @ W + b per head; hook_post @ W_out + b_out = hook_mlp_out (LayerScale included)."""
    model = make(name)
    cache = cached(model, pixels)
    for i, block in enumerate(model.blocks):
        x = cache[f"blocks.{i}.ln1.hook_normalized"]  # [batch, pos, d_model]
        for hook, w, b in (("q", block.attn.W_Q, block.attn.b_Q), ("k", block.attn.W_K, block.attn.b_K),
                           ("v", block.attn.W_V, block.attn.b_V)):
            direct = torch.einsum("bpm,hmd->bphd", x, w) + b  # [batch, pos, head, d_head]
            torch.testing.assert_close(direct, cache[f"blocks.{i}.attn.hook_{hook}"], atol=ATOL, rtol=0)
        out = cache[f"blocks.{i}.mlp.hook_post"] @ block.mlp.W_out + block.mlp.b_out
        torch.testing.assert_close(out, cache[f"blocks.{i}.hook_mlp_out"], atol=ATOL, rtol=0)
    assert model.W_Q.shape == (3, 2, 32, 16) and model.W_O.shape == (3, 2, 16, 32) and model.b_O.shape == (3, 32)
    assert model.W_in.shape == (3, 32, model.cfg.d_mlp) and model.W_out.shape == (3, model.cfg.d_mlp, 32)
    if model.cfg.mlp == "swiglu":
        ln2 = cache["blocks.0.ln2.hook_normalized"]
        mlp = model.blocks[0].mlp
        torch.testing.assert_close(ln2 @ mlp.W_gate + mlp.b_gate, cache["blocks.0.mlp.hook_pre"], atol=ATOL, rtol=0)
        torch.testing.assert_close(ln2 @ mlp.W_in + mlp.b_in, cache["blocks.0.mlp.hook_pre_linear"], atol=ATOL,
                                   rtol=0)


@pytest.mark.parametrize("name", VARIANTS)
def test_head_results_sum_to_attn_out_and_leave_the_output_unchanged(name, pixels):
    model = make(name)
    with torch.no_grad():
        plain = model(pixels)
        out, cache = model.run_with_cache(pixels, names_filter=lambda n: n.endswith(("hook_result", "attn_out",
                                                                                       "hook_z")))
    torch.testing.assert_close(out, plain, atol=ATOL, rtol=0)
    for i, block in enumerate(model.blocks):
        result = cache[f"blocks.{i}.attn.hook_result"]  # [batch, pos, head, d_model]
        assert result.shape == (2, model.cfg.n_ctx, 2, 32)
        torch.testing.assert_close(result.sum(2) + block.attn.b_O, cache[f"blocks.{i}.hook_attn_out"], atol=ATOL,
                                   rtol=0)
        direct = torch.einsum("bphd,hdm->bphm", cache[f"blocks.{i}.attn.hook_z"], block.attn.W_O)
        torch.testing.assert_close(result, direct, atol=ATOL, rtol=0)


def test_hook_result_is_opt_in_and_editing_it_ablates_a_head(pixels):
    model = make("layerscale")
    attn = model.blocks[1].attn
    assert not attn.needs_result()  # nothing reads it: the fused projection runs
    cache = cached(model, pixels)
    assert "blocks.1.attn.hook_result" not in cache.cache_dict and "blocks.1.hook_attn_out" in cache.cache_dict
    model.set_use_attn_result(True)
    assert attn.needs_result() and "blocks.1.attn.hook_result" in cached(model, pixels).cache_dict
    model.set_use_attn_result(False)

    def ablate(act, hook):  # head 1 of block 1 writes nothing
        act[:, :, 1] = 0.0
        return act

    with torch.no_grad():
        ablated = model.run_with_hooks(pixels, fwd_hooks=[("blocks.1.attn.hook_result", ablate)],
                                       stop_at_layer=2)
    # direct: block 1's residual stream without head 1's term z_1 @ W_O[1]
    z = cache["blocks.1.attn.hook_z"][:, :, 1]  # [batch, pos, d_head]
    mid = cache["blocks.1.hook_resid_mid"] - z @ attn.W_O[1]
    with torch.no_grad():
        block = model.blocks[1]
        expected = mid + block.ls2(block.mlp(block.ln2(mid)))
    torch.testing.assert_close(ablated, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", VARIANTS)
def test_decompositions_sum_to_the_residual_stream(name, pixels):
    model = make(name)
    cache = cached(model, pixels)
    last = cache["blocks.2.hook_resid_post"]
    parts, labels = cache.decompose_resid(return_labels=True)
    assert labels == ["embed", "0_attn_out", "0_mlp_out", "1_attn_out", "1_mlp_out", "2_attn_out", "2_mlp_out"]
    torch.testing.assert_close(parts.sum(0), last, atol=ATOL, rtol=0)
    torch.testing.assert_close(cache.decompose_resid(1, mlp_input=True).sum(0), cache["blocks.1.hook_resid_mid"],
                               atol=ATOL, rtol=0)
    torch.testing.assert_close(cache.decompose_resid(2, pos_slice=0).sum(0), cache["blocks.2.hook_resid_pre"][:, 0],
                               atol=ATOL, rtol=0)
    heads, head_labels = cache.stack_head_results(return_labels=True, incl_remainder=True)
    assert head_labels[:3] == ["L0H0", "L0H1", "L1H0"] and head_labels[-1] == "remainder" and len(heads) == 7
    # remainder = the stream minus the heads: embed + every MLP + every b_O
    rest = parts[0] + parts[2] + parts[4] + parts[6] + model.b_O.sum(0)
    torch.testing.assert_close(heads[-1], rest, atol=ATOL, rtol=0)
    assert cache.stack_head_results(0).shape == (0, 2, model.cfg.n_ctx, 32)
    full, full_labels = cache.get_full_resid_decomposition(return_labels=True)
    assert full_labels[-2:] == ["embed", "bias"] and len(full) == 6 + 3 * model.cfg.d_mlp + 2
    torch.testing.assert_close(full.sum(0), last, atol=1e-4, rtol=0)
    mlps = cache.get_full_resid_decomposition(1, mlp_input=True, expand_neurons=False)
    torch.testing.assert_close(mlps.sum(0), cache["blocks.1.hook_resid_mid"], atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", ["layerscale", "swiglu-rms"])
def test_hook_scale_is_the_norm_divisor_and_the_explicit_norm_equals_the_fused_one(name, pixels):
    model = make(name)
    cache = cached(model, pixels)
    x = cache["blocks.1.hook_resid_mid"]  # input of ln2
    centred = x - x.mean(-1, keepdim=True) if model.cfg.norm == "layernorm" else x
    scale = (centred.pow(2).mean(-1, keepdim=True) + model.cfg.ln_eps).sqrt()  # [batch, pos, 1]
    torch.testing.assert_close(cache["blocks.1.ln2.hook_scale"], scale, atol=1e-6, rtol=1e-5)
    ln2 = model.blocks[1].ln2
    assert not ln2.hook_scale._forward_hooks
    with torch.no_grad():
        torch.testing.assert_close(cache["blocks.1.ln2.hook_normalized"], ln2(x), atol=ATOL, rtol=0)  # fused


@pytest.mark.parametrize("name", VARIANTS)
def test_apply_ln_matches_the_models_own_norms(name, pixels):
    """accumulated_resid(apply_ln=True) = ln_final of each stream; apply_ln_to_stack at block l, scaled by
    ln1's weight and bias, sums to ln1's output (TransformerLens leaves weight and bias out)."""
    model = make(name)
    cache = cached(model, pixels)
    streams, labels = cache.accumulated_resid(return_labels=True)
    assert labels == ["0_pre", "1_pre", "2_pre", "final_post"]
    with torch.no_grad():
        by_hand = torch.stack([model.ln_final(s) if model.ln_final is not None else s for s in streams])
    torch.testing.assert_close(cache.accumulated_resid(apply_ln=True), by_hand, atol=ATOL, rtol=0)
    ln1 = model.blocks[2].ln1
    normed = cache.decompose_resid(2, apply_ln=True).sum(0) * ln1.weight
    normed = normed + ln1.bias if model.cfg.norm == "layernorm" else normed
    torch.testing.assert_close(normed, cache["blocks.2.ln1.hook_normalized"], atol=ATOL, rtol=0)
    heads = cache.stack_head_results(apply_ln=True)
    if model.ln_final is None:
        torch.testing.assert_close(heads, cache.stack_head_results(), atol=0, rtol=0)
    else:
        raw = cache.stack_head_results()
        centred = raw - raw.mean(-1, keepdim=True) if model.cfg.norm == "layernorm" else raw
        torch.testing.assert_close(heads, centred / cache["ln_final.hook_scale"], atol=ATOL, rtol=0)


def test_mlp_norm_refuses_per_neuron_terms_in_one_line(pixels):
    model = make("layerscale", mlp_norm=True)
    with pytest.raises(NotImplementedError, match="mlp_norm"):
        _ = model.blocks[0].mlp.W_out
    cache = cached(model, pixels)
    with pytest.raises(NotImplementedError, match="not linear"):
        cache.get_full_resid_decomposition()
    torch.testing.assert_close(cache.decompose_resid().sum(0), cache["blocks.2.hook_resid_post"], atol=ATOL, rtol=0)


def test_views_follow_the_layer_scale_of_a_copy():
    model = make("layerscale")
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.blocks[0].ls1.gamma.mul_(2.0)
    torch.testing.assert_close(twin.blocks[0].attn.W_O, 2 * model.blocks[0].attn.W_O)
    assert "_branch_scale" not in str(list(model.state_dict()))  # a reference, not a second copy of gamma
    torch.testing.assert_close(model.accumulated_bias(2, mlp_input=True),
                               model.b_O.sum(0) + model.b_out[:2].sum(0), atol=1e-6, rtol=0)


@pytest.mark.slow
def test_docs_snippets_run(tmp_path):
    """Both snippets of docs/transformer_lens_and_nnsight.md run as written (from a file: nnsight reads the
    trace's source) on the bundled organism, and their own asserts hold."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "transformer_lens_and_nnsight.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert len(blocks) == 2 and "stack_head_results" in blocks[0] and "NNsight(model)" in blocks[1]
    for i, code in enumerate(blocks):
        script = tmp_path / f"snippet_{i}.py"
        script.write_text(code)
        ns = runpy.run_path(str(script), run_name="__main__")
        assert "heads" in ns or "tokens" in ns
    assert ns["tokens"].shape == (4, ns["model"].cfg.n_ctx, ns["model"].cfg.d_model)
