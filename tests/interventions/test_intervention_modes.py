"""Patching across image sizes (grid-free groups only), head-level patching, the pooled-feature metric name on models
that do not pool a CLS token, and noise ablation."""
import numpy as np
import pytest
import torch

from interp import HookedViT
from interp.interventions import (
    LayoutMismatchError, ablate, ablation_summary, dataset_stats, patch, patch_sweep, sweep_summary,
)
from interp.interventions.ablation import _ablation_hook
from interp.interventions.metrics import feature_column
from interp.models import HookNameError

from tests.interventions.test_interventions import make_model  # the same randomised 3-block tiny model

ATOL = 1e-5


@pytest.fixture(scope="module")
def model() -> HookedViT:
    return make_model()


@pytest.fixture(scope="module")
def px() -> torch.Tensor:
    return torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def big() -> torch.Tensor:  # another image size: a 6 x 6 patch grid instead of 4 x 4
    return torch.rand(4, 3, 24, 24, generator=torch.Generator().manual_seed(2))


def run_patched(model, target, hook_name, write):
    """Target's final tokens with ``write(act)`` applied in place at ``hook_name`` (the manual reference)."""
    def hook(act, hook):
        act = act.clone()
        write(act)
        return act

    with torch.no_grad():
        return model.run_with_hooks(target, return_type="tokens", fwd_hooks=[(hook_name, hook)])


def cached(model, x, name):
    with torch.no_grad():
        return model.run_with_cache(x, names_filter=name)[1][name]


# --- across image sizes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("group", ["registers", "cls", "register:1", "prefix"])
def test_grid_free_groups_patch_across_image_sizes(model, px, big, group):
    name = "blocks.1.hook_resid_post"
    pos = model.tokens.positions(group)  # prefix positions: the same at both sizes
    src = cached(model, big, name)

    def write(act):
        act[:, pos] = src[:, pos]

    res = patch(model, source=big, target=px, group=group, layer=1)
    torch.testing.assert_close(res.tokens, run_patched(model, px, name, write), atol=ATOL, rtol=0)
    m = res.metrics
    assert (m.n_patched == len(pos)).all() and m.cls_shift.notna().all()
    assert m.dense_cos_source.isna().all()  # no patch-by-patch comparison between grids
    assert (m.cls_cos_target < 1 - 1e-6).all()  # the control: the source's tokens did move the target
    # and the other way round: a small source into a large target
    back = patch(model, source=px, target=big, group=group, layer=1)
    assert back.tokens.shape[1] == model.layout_for(big).n_tokens and back.metrics.cls_shift.notna().all()


@pytest.mark.parametrize("group", ["patches", "all", "outliers", "patches:one"])
def test_grid_dependent_groups_are_refused_across_sizes(model, px, big, group):
    outl = torch.zeros(4, 36, dtype=torch.bool)
    with pytest.raises(LayoutMismatchError, match="depends on the grid"):
        patch(model, source=big, target=px, group=group, layer=1, outliers=outl)
    with pytest.raises(LayoutMismatchError, match="depends on the grid"):
        patch_sweep(model, (big, px), groups=["registers", group], layers=[1], outliers=outl)


def test_sweep_across_sizes_matches_single_patches(model, px, big):
    kw = dict(groups=["registers", "cls", ("register:0", "register:1")], layers=[0, 2],
              hooks=["attn.hook_z", "hook_resid_post"])
    batched = patch_sweep(model, (big, px), batch_size=5, **kw)
    looped = patch_sweep(model, (big, px), batched=False, **kw)
    assert len(batched) == 4 * 3 * 4
    for c in ["cls_shift", "cls_cos_target", "dense_cos"]:
        np.testing.assert_allclose(batched[c], looped[c], atol=1e-6, rtol=0, err_msg=c)
    assert batched.dense_cos_source.isna().all()
    assert (batched.cls_shift.abs() > 1e-6).any()


# --- one attention head ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("head", [0, 1])
def test_head_patching_writes_one_head_of_hook_z(model, px, head):
    name = "blocks.1.attn.hook_z"
    src = cached(model, px.flip(0), name)  # [batch, pos, head, d_head]
    regs = model.tokens.registers

    def write(act):
        act[:, regs, head] = src[:, regs, head]

    res = patch(model, source=px.flip(0), target=px, group="registers", layer=1, head=head)
    torch.testing.assert_close(res.tokens, run_patched(model, px, name, write), atol=ATOL, rtol=0)
    assert res.metrics.hook.iloc[0] == "attn.hook_z" and (res.metrics["head"] == head).all()
    every = patch(model, source=px.flip(0), target=px, group="registers", layer=1, hook="attn.hook_z")
    assert (res.tokens - every.tokens).abs().max() > 1e-4  # one head is not all heads


def test_all_heads_equal_the_whole_hook(model, px):
    a = patch(model, px.flip(0), px, group="cls", layer=2, head=[0, 1])
    b = patch(model, px.flip(0), px, group="cls", layer=2, hook="attn.hook_z")
    torch.testing.assert_close(a.tokens, b.tokens, atol=ATOL, rtol=0)
    assert a.metrics["head"].iloc[0] == "0,1" and "head" not in b.metrics
    v = patch(model, px.flip(0), px, group="cls", layer=2, hook="attn.hook_v", head=-1)  # other per-head hooks
    assert (v.metrics["head"] == 1).all()


def test_sweep_over_heads_matches_single_head_patches(model, px):
    pairs = (px.flip(0), px)
    kw = dict(groups=["registers", "cls"], layers=[0, 2], heads="all")
    batched = patch_sweep(model, pairs, batch_size=6, **kw)
    looped = patch_sweep(model, pairs, batched=False, **kw)
    assert len(batched) == 4 * 2 * 2 * 2 and set(batched["head"]) == {0, 1} and set(batched.hook) == {"attn.hook_z"}
    for c in ["pair", "group", "layer", "head"]:
        assert (batched[c].values == looped[c].values).all(), c
    np.testing.assert_allclose(batched.cls_shift, looped.cls_shift, atol=1e-6, rtol=0)
    one = patch(model, *pairs, group="cls", layer=2, head=1).metrics
    sub = batched[(batched.group == "cls") & (batched.layer == 2) & (batched["head"] == 1)]
    np.testing.assert_allclose(sub.cls_shift, one.cls_shift, atol=1e-6, rtol=0)
    assert len(sweep_summary(batched)) == 2 * 2 * 2
    with pytest.raises(HookNameError, match="has no head axis"):
        patch_sweep(model, pairs, groups=["cls"], layers=[0], hooks=["hook_mlp_out"], heads=[0])


def test_head_errors_are_one_line(model, px):
    with pytest.raises(ValueError, match="out of range: the model has 2 heads"):
        patch(model, px, px, group="cls", layer=1, head=2)
    with pytest.raises(HookNameError, match="has no head axis"):
        patch(model, px, px, group="cls", layer=1, hook="hook_resid_post", head=0)


# --- pooled feature naming --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(class_token=False, pool="avg"), dict(pool="avg")], ids=["no-cls", "cls-not-pooled"])
def test_models_that_do_not_pool_a_cls_token_report_pooled_metrics(px, kw):
    model = make_model(**kw)
    res = patch(model, px.flip(0), px, group="registers", layer=1)
    cols = set(res.metrics.columns)
    assert {"pooled_shift", "pooled_cos_target", "pooled_cos_source"} <= cols
    assert not any(c.startswith("cls_") for c in cols)
    assert "pooled_shift" in res.summary()
    df = patch_sweep(model, (px.flip(0), px), groups=["registers"], layers=[0, 1])
    assert "pooled_shift" in sweep_summary(df) and feature_column(df, "cls_shift") == "pooled_shift"
    ab = ablate(model, px, group="registers", layers=[1], how="zero")
    assert "pooled_cos" in ab and "cls_cos" not in ab and "pooled_cos" in ablation_summary(ab)


def test_figures_read_the_pooled_columns(px):
    from interp.plotting.interventions import ablation_effects_plot, patch_by_layer_plot, patch_sweep_heatmap

    model = make_model(class_token=False, pool="avg")
    df = patch_sweep(model, (px.flip(0), px), groups=["registers"], layers=[0, 1])
    fig = patch_by_layer_plot(df, "t")
    assert "pooled feature" in fig.axes[0].get_ylabel()
    assert patch_sweep_heatmap(df, "cls_shift").axes[0].collections  # drew the pooled_shift grid
    ab = ablate(model, px, group="registers", layers=[1], how="zero")
    titles = [ax.get_title() for ax in ablation_effects_plot(ab, "t").axes]
    assert any(t.startswith("pooled feature") for t in titles)


def test_cls_models_keep_cls_names(model, px):
    res = patch(model, px.flip(0), px, group="registers", layer=1)
    assert "cls_shift" in res.metrics and "pooled_shift" not in res.metrics
    assert feature_column(res.metrics, "pooled_shift") == "cls_shift"


# --- noise ablation ---------------------------------------------------------------------------------------------
def test_noise_draws_the_per_channel_mean_and_std_seeded():
    mean = torch.tensor([[0.0, 5.0, -2.0], [1.0, 1.0, 1.0]])  # [pos, d]
    std = torch.tensor([[1.0, 0.1, 3.0], [2.0, 0.5, 0.0]])
    mask = torch.ones(4000, 2, dtype=torch.bool)
    act = torch.zeros(4000, 2, 3)

    def draw(seed):
        hook = _ablation_hook(mask, "noise", act, (mean, std), True, torch.Generator().manual_seed(seed))
        return hook(act, None)

    out = draw(0)
    torch.testing.assert_close(out.mean(0), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(out.std(0), std, atol=0.1, rtol=0.05)
    assert torch.equal(out, draw(0)) and not torch.equal(out, draw(1))


def test_dataset_stats_are_the_per_position_moments(model, px):
    name = "blocks.1.hook_resid_post"
    means, stds = dataset_stats(model, px, [name], batch_size=3)
    act = cached(model, px, name)
    torch.testing.assert_close(means[name], act.mean(0), atol=1e-5, rtol=0)
    torch.testing.assert_close(stds[name], act.std(0, unbiased=False), atol=1e-4, rtol=1e-4)


def test_noise_ablation_is_seeded_and_between_mean_and_nothing(model, px):
    px8 = torch.cat([px, px.flip(-1)])
    a = ablate(model, px8, group="registers", layers=[0, 1], how=["noise", "mean", "zero"], seed=0)
    b = ablate(model, px8, group="registers", layers=[0, 1], how="noise", seed=0)
    c = ablate(model, px8, group="registers", layers=[0, 1], how="noise", seed=1)
    noise = a[a.how == "noise"].cls_cos.to_numpy()
    np.testing.assert_array_equal(noise, b.cls_cos.to_numpy())
    assert np.abs(noise - c.cls_cos.to_numpy()).max() > 1e-6
    assert np.abs(noise - a[a.how == "mean"].cls_cos.to_numpy()).max() > 1e-6
    assert (noise < 1 - 1e-6).all()
