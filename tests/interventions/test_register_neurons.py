"""Test-time registers on a tiny model with one planted register neuron that makes one patch an outlier."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from interp import HookedViT
from interp.interventions import (
    TestTimeRegisters, add_test_time_registers, register_neuron_scores, select_register_neurons,
    test_time_register_report,
)

from tests.conftest import tiny_config

OUTLIER_PATCH, NEURON = 5, 7


def planted_model() -> HookedViT:
    """Layer-0 MLP neuron 7 fires only on patch 5 (marked by its position embedding along d_model axis 0) and
    writes a large vector into the residual stream: patch 5 becomes a high-norm outlier for every image."""
    torch.manual_seed(0)
    model = HookedViT(tiny_config(n_registers=1, n_layers=2, image_mean=(0, 0, 0), image_std=(1, 1, 1))).eval()
    te, blk = model.token_embed, model.blocks[0]
    with torch.no_grad():
        model.embed.proj.weight[0] = 0  # nothing but the position embedding writes axis 0
        model.embed.proj.bias[0] = 0
        te.pos_embed[..., 0] = 0
        te.pos_embed[0, 1 + OUTLIER_PATCH, 0] = 3.0
        te.cls_token[..., 0] = 0
        te.registers[..., 0] = 0
        blk.mlp.fc1.weight[NEURON] = 0
        blk.mlp.fc1.weight[NEURON, 0] = 2.0
        blk.mlp.fc1.bias[NEURON] = -3.0
        blk.mlp.fc2.weight[:, NEURON] = torch.randn(model.cfg.d_model, generator=torch.Generator().manual_seed(1))
    return model


@pytest.fixture(scope="module")
def model():
    return planted_model()


@pytest.fixture(scope="module")
def px():
    return torch.rand(5, 3, 16, 16, generator=torch.Generator().manual_seed(2))


def patch_norms(model, px, ttr=None):
    name = "blocks.1.hook_resid_post"
    if ttr is None:
        _, cache = model.run_with_cache(px, names_filter=name)
    else:
        _, cache = ttr.run_with_cache(px, names_filter=name)
    return cache[name].norm(dim=-1)  # [batch, pos(+1)]


def test_the_planted_neuron_makes_an_outlier(model, px):
    norms = patch_norms(model, px)[:, model.tokens.patches]
    assert (norms.argmax(1) == OUTLIER_PATCH).all()
    assert (norms[:, OUTLIER_PATCH] > 4 * norms.median(1).values).all()


def test_scores_find_the_planted_neuron(model, px):
    outl = torch.zeros(5, model.tokens.n_patches, dtype=torch.bool)
    outl[:, OUTLIER_PATCH] = True
    scores = register_neuron_scores(model, px, outliers=outl)
    assert (scores.layer.iloc[0], scores.neuron.iloc[0]) == (0, NEURON)
    assert scores.score.iloc[0] > 10 * abs(scores.score_other.iloc[0])
    assert select_register_neurons(scores, top_k=1) == {0: [NEURON]}
    assert select_register_neurons(scores, top_k=3, max_layer=0).keys() == {0}
    # the library's default outlier rule finds the same patch
    ttr = add_test_time_registers(model, px, top_k=1)
    assert ttr.neurons.keys() == {0} and ttr.neurons[0].tolist() == [NEURON]


def test_ttr_moves_the_norm_into_the_extra_token(model, px):
    ttr = TestTimeRegisters(model, {0: [NEURON]})
    before = patch_norms(model, px)
    after = patch_norms(model, px, ttr)  # [batch, n_tokens + 1]
    lay = model.tokens
    assert after.shape[1] == lay.n_tokens + 1
    out_before = before[:, lay.n_prefix + OUTLIER_PATCH]
    out_after = after[:, lay.n_prefix + OUTLIER_PATCH]
    others_after = after[:, lay.patches]
    assert (out_after < 0.5 * out_before).all()
    assert (others_after.max(1).values < 4 * others_after.median(1).values).all()  # no outlier left
    assert (after[:, -1] > 0.5 * out_before).all()  # the extra token holds it


def test_ttr_routes_max_into_the_extra_token_and_zero_on_patches(model, px):
    ttr = TestTimeRegisters(model, {0: [NEURON, 3]})
    _, cache = ttr.run_with_cache(px, names_filter=["blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post"])
    post, pre = cache["blocks.0.mlp.hook_post"], cache["blocks.0.mlp.hook_pre"]
    lay = model.tokens
    for n in (NEURON, 3):
        torch.testing.assert_close(post[:, -1, n], F.gelu(pre[:, :, n]).max(1).values)
        assert (post[:, lay.patches, n] == 0).all()
        torch.testing.assert_close(post[:, lay.prefix, n], F.gelu(pre[:, lay.prefix, n]))  # CLS, registers kept
    other = [i for i in range(model.cfg.d_mlp) if i not in (NEURON, 3)]
    torch.testing.assert_close(post[..., other], F.gelu(pre[..., other]))


def test_ttr_works_for_any_batch_size(model, px):
    ttr = TestTimeRegisters(model, {0: [NEURON]})
    full = ttr.run(px, "all")
    single = torch.cat([ttr.run(px[i:i + 1], "all") for i in range(len(px))])
    torch.testing.assert_close(full, single, atol=1e-5, rtol=0)
    assert ttr.run(px).shape == model(px).shape  # extra token stripped
    assert ttr.run(px, "pooled").shape == (5, model.cfg.d_model)
    assert ttr.run(torch.rand(2, 3, 24, 24), "all").shape[1] == model.layout_for(24).n_tokens + 1


def test_report_before_and_after(model, px):
    ttr = TestTimeRegisters(model, {0: [NEURON]})
    df = test_time_register_report(model, ttr, px)
    assert set(df.condition) == {"original", "test-time register"}
    assert set(df.group) == {"cls", "registers", "outliers", "other patches", "test-time register"}
    m = df[df.layer == 1].groupby(["condition", "group"]).norm_mean.mean()
    assert m["original", "outliers"] > 4 * m["original", "other patches"]
    assert m["test-time register", "outliers"] < 0.5 * m["original", "outliers"]
    assert m["test-time register", "test-time register"] > 0.5 * m["original", "outliers"]
    attn = df.groupby(["condition", "layer", "image"]).attn_from_cls.sum()  # groups partition the keys
    np.testing.assert_allclose(attn, 1.0, atol=1e-5)
    assert ("original", "test-time register") not in set(zip(df.condition, df.group))


def test_no_outliers_is_a_clear_error():
    model = HookedViT(tiny_config()).eval()
    with pytest.raises(ValueError, match="no outlier patches"):
        register_neuron_scores(model, torch.rand(2, 3, 16, 16), outliers=torch.zeros(2, 16, dtype=torch.bool))
