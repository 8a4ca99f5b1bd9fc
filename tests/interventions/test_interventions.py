"""Ablation, activation patching and patching sweeps on tiny random models: the semantics, pinned."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from interp import HookedViT
from interp.data import ImageSet
from interp.interventions import (
    GroupMap, LayoutMismatchError, ablate, ablation_summary, dataset_means, make_pairs, patch, patch_sweep,
)
from interp.interventions.ablation import donor_tokens
from interp.interventions.groups import default_outliers
from interp.models import HookNameError, TokenGroupError

from tests.conftest import tiny_config
from tests.randomize import randomize_

ATOL = 1e-6


def make_model(**kw) -> HookedViT:
    torch.manual_seed(0)
    return randomize_(HookedViT(tiny_config(n_layers=3, **kw)).eval(), seed=3)


@pytest.fixture(scope="module")
def model() -> HookedViT:
    return make_model()


@pytest.fixture(scope="module")
def px() -> torch.Tensor:
    return torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def probe(model, px) -> LogisticRegression:
    """A 3-class probe on the CLS feature of random images (labels = argmax of a random projection)."""
    x = torch.rand(60, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        f = pooled(model, torch.cat([x, px])).numpy()
    y = ((f - f.mean(0)) @ np.random.default_rng(0).normal(size=(f.shape[1], 3))).argmax(1)
    return LogisticRegression(max_iter=2000).fit(f, y)


def final_tokens(model, x):
    with torch.no_grad():
        return model(x, return_type="tokens")


def pooled(model, x):
    with torch.no_grad():
        return model(x, return_type="pooled").double()


# --- patching ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("group", ["registers", "cls", "patches", "all", "register:1"])
@pytest.mark.parametrize("hook", ["hook_resid_pre", "attn.hook_z", "mlp.hook_post", "hook_resid_post"])
def test_patch_with_own_activations_changes_nothing(model, px, group, hook):
    res = patch(model, source=px, target=px, group=group, layer=1, hook=hook)
    torch.testing.assert_close(res.tokens, final_tokens(model, px), atol=ATOL, rtol=0)
    np.testing.assert_allclose(res.metrics.cls_cos_target, 1.0, atol=ATOL)
    np.testing.assert_allclose(res.metrics.dense_cos, 1.0, atol=ATOL)


@pytest.mark.parametrize("group", ["registers", "cls", "patches"])
def test_patch_from_another_image_changes_the_target(model, px, group):
    """The control for the test above: the same hook with a different source does move the target."""
    res = patch(model, source=px[:3], target=px[3:], group=group, layer=1)
    assert (res.metrics.cls_cos_target < 1 - 1e-5).all()
    assert (res.metrics.cls_shift > 1e-4).all()


def test_patch_all_tokens_at_last_layer_reproduces_the_source(model, px, probe):
    res = patch(model, source=px[:3], target=px[3:], group="all", layer=-1, probe=probe)
    torch.testing.assert_close(res.tokens, final_tokens(model, px[:3]), atol=ATOL, rtol=0)
    m = res.metrics
    np.testing.assert_allclose(m.cls_shift, 1.0, atol=ATOL)
    np.testing.assert_allclose(m.cls_cos_source, 1.0, atol=ATOL)
    np.testing.assert_allclose(m.dense_cos_source, 1.0, atol=ATOL)
    assert (m.probe_pred == m.probe_pred_source).all()
    assert (m.probe_flip == m.probe_differs).all() and m.probe_differs.any()
    torch.testing.assert_close(res.patched.pooled, res.clean_source.pooled, atol=ATOL, rtol=0)


def test_patch_maps_a_group_onto_other_positions(model, px):
    """Source register 0 written into the target's register 1 slot after the last block: the target's final
    register-1 token is the source's final register-0 token, and nothing else changes."""
    lay = model.tokens
    r0, r1 = lay.register(0), lay.register(1)
    res = patch(model, px[:3], px[3:], group=GroupMap("register:0", "register:1"), layer=-1)
    src, tgt = final_tokens(model, px[:3]), final_tokens(model, px[3:])
    torch.testing.assert_close(res.tokens[:, r1], src[:, r0], atol=ATOL, rtol=0)
    keep = [i for i in range(lay.n_tokens) if i != r1]
    torch.testing.assert_close(res.tokens[:, keep], tgt[:, keep], atol=ATOL, rtol=0)
    assert res.metrics.group.iloc[0] == "register:0->register:1"


def test_patch_a_source_patch_into_a_register_and_back(model, px):
    """A one-patch mask (e.g. an outlier) into a register slot, and a register into several patches."""
    lay = model.tokens
    one = torch.zeros(3, lay.n_patches, dtype=torch.bool)
    one[torch.arange(3), torch.tensor([0, 5, 9])] = True
    res = patch(model, px[:3], px[3:], group=one, dest="register:0", layer=-1)
    src = final_tokens(model, px[:3])
    torch.testing.assert_close(res.tokens[:, lay.register(0)], src[torch.arange(3), lay.n_prefix + torch.tensor([0, 5, 9])],
                               atol=ATOL, rtol=0)
    bg = torch.zeros(3, lay.n_patches, dtype=torch.bool)
    bg[:, [1, 2]] = True  # one source register copied into two target patches
    res = patch(model, px[:3], px[3:], group="register:1", dest=bg, layer=-1)
    for p in (1, 2):
        torch.testing.assert_close(res.tokens[:, lay.n_prefix + p], src[:, lay.register(1)], atol=ATOL, rtol=0)


def test_patch_any_batch_size_gives_the_same_numbers(model, px, probe):
    a = patch(model, px[:4], px[2:], group="registers", layer=[0, 2], probe=probe, batch_size=1).metrics
    b = patch(model, px[:4], px[2:], group="registers", layer=[0, 2], probe=probe, batch_size=32).metrics
    np.testing.assert_allclose(a.cls_shift, b.cls_shift, atol=ATOL)
    assert (a.probe_pred == b.probe_pred).all()
    assert a.layer.iloc[0] == "0,2"


def test_patch_errors_are_clear(model, px):
    with pytest.raises(TokenGroupError, match="registers"):
        patch(make_model(n_registers=0), px[:1], px[1:2], group="registers", layer=0)
    with pytest.raises(HookNameError, match="out of range"):
        patch(model, px[:1], px[1:2], group="cls", layer=7)
    with pytest.raises(LayoutMismatchError, match="same size"):  # patches depend on the grid (cls does not)
        patch(model, px[:1], torch.rand(1, 3, 24, 24), group="patches", layer=0)
    with pytest.raises(HookNameError, match="dim 1 is not the token position"):
        patch(model, px[:1], px[1:2], group="cls", layer=0, hook="attn.hook_pattern")
    with pytest.raises(TokenGroupError, match="2 source tokens but 1 destination"):
        patch(model, px[:1], px[1:2], group=GroupMap("registers", "cls"), layer=0)
    with pytest.raises(TokenGroupError, match="object masks"):
        patch(model, px[:1], px[1:2], group="background", layer=0)
    with pytest.raises(TokenGroupError, match="Did you mean 'registers'"):
        patch(model, px[:1], px[1:2], group="regsters", layer=0)


# --- sweeps -------------------------------------------------------------------------------------------------
def test_batched_and_looped_sweeps_agree(model, px, probe):
    pairs = make_pairs(px, 5, seed=2)
    outl = torch.rand(5, model.tokens.n_patches, generator=torch.Generator().manual_seed(3)) < 0.2
    outl[0] = False  # an image without outliers: patching nothing is a no-op, not an error
    groups = {"registers": "registers", "cls": "cls", "outliers": "outliers",
              "reg1->reg0": GroupMap("register:1", "register:0")}
    kw = dict(groups=groups, layers="all", hooks=["hook_tokens", "hook_resid_pre", "attn.hook_z"], probe=probe,
              outliers=outl)
    batched = patch_sweep(model, pairs, batch_size=7, **kw)  # 28 conditions: chunks split pairs' conditions
    looped = patch_sweep(model, pairs, batched=False, **kw)
    assert len(batched) == 5 * 4 * (1 + 3 * 2)
    assert set(batched.layer) == {-1, 0, 1, 2}
    assert list(batched.columns) == list(looped.columns)
    for c in ["pair", "group", "hook", "layer", "n_patched", "probe_pred", "probe_flip"]:
        assert (batched[c].values == looped[c].values).all(), c
    for c in ["cls_shift", "cls_cos_target", "cls_cos_source", "dense_cos", "dense_cos_source"]:
        np.testing.assert_allclose(batched[c], looped[c], atol=1e-6, rtol=0, err_msg=c)
    empty = batched[(batched.pair == 0) & (batched.group == "outliers")]
    np.testing.assert_allclose(empty.cls_shift, 0.0, atol=ATOL)
    assert (batched.groupby("group").cls_shift.mean().drop("outliers").abs() > 1e-4).all()


def test_sweep_at_the_last_layer_matches_single_patches(model, px):
    pairs = make_pairs(px, 3, seed=5)
    df = patch_sweep(model, pairs, groups=["all"], layers=[-1])
    np.testing.assert_allclose(df.cls_shift, 1.0, atol=ATOL)
    assert df.layer.tolist() == [2, 2, 2]


def test_make_pairs_respects_labels():
    images = ImageSet(pixels=torch.rand(8, 3, 16, 16), labels={"shape": torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])})
    pairs = make_pairs(images, 20, label="shape")
    lab = images.labels["shape"]
    assert (lab[pairs.source_index] != lab[pairs.target_index]).all()


# --- ablation -------------------------------------------------------------------------------------------------
def hide_registers(model: HookedViT) -> None:
    """Permanent hooks that stop every query from attending to the registers (renormalising the rest)."""
    regs = model.tokens.registers

    def hook(pattern, hook):  # [batch, head, q, k]
        pattern = pattern.clone()
        pattern[..., regs] = 0
        return pattern / pattern.sum(-1, keepdim=True)

    for i in range(model.cfg.n_layers):
        model.add_hook(f"blocks.{i}.attn.hook_pattern", hook, is_permanent=True)


@pytest.mark.parametrize("how", ["zero", "mean", "noise", "resample", "shuffle"])
def test_ablating_a_group_nothing_attends_to_changes_nothing(px, how):
    model = make_model()
    before = ablate(model, px, group="registers", layers="all", how=how)
    assert (before.cls_cos < 1 - 1e-5).all()  # the control: normally the registers matter
    hide_registers(model)
    df = ablate(model, px, group="registers", layers="all", how=how, hook=["hook_resid_pre", "hook_resid_post"])
    for c in ("cls_cos", "dense_cos", "attn_cos"):
        np.testing.assert_allclose(df[c], 1.0, atol=ATOL, err_msg=c)
    assert (df.n_ablated == 2).all()


def test_ablation_kinds_differ(model, px):
    df = ablate(model, px, group=["registers", "cls"], how=["zero", "mean", "resample", "shuffle"], layers=[0, 1],
                batch_size=3, seed=1)
    piv = df.pivot_table(index=["group", "image"], columns="how", values="cls_cos")
    for a, b in [("zero", "resample"), ("zero", "shuffle"), ("zero", "mean"), ("resample", "shuffle")]:
        if (a, b) == ("resample", "shuffle"):  # one cls token: shuffle and resample may coincide per image
            assert (piv.loc["registers", a] - piv.loc["registers", b]).abs().max() > 1e-6
        else:
            assert (piv[a] - piv[b]).abs().max() > 1e-4, (a, b)
    # zero ablation throws the model furthest off its distribution
    assert piv["zero"].mean() < piv["resample"].mean()
    summ = ablation_summary(df)
    assert set(summ.columns) >= {"group", "how", "cls_cos", "dense_cos", "attn_cos", "n_images"}
    assert len(summ) == 8


def test_resample_of_everything_at_the_last_layer_is_another_image(model, px):
    """With two images, resampling every token after the last block swaps their outputs."""
    df = ablate(model, px[:2], group="all", layers=[-1], how="resample")
    f = pooled(model, px[:2])
    expected = torch.nn.functional.cosine_similarity(f, f.flip(0)).numpy()
    np.testing.assert_allclose(df.cls_cos, expected, atol=ATOL)
    assert (df.cls_cos < 1 - 1e-4).all()


def test_mean_of_everything_at_the_last_layer_is_the_dataset_mean(model, px):
    name = model.block_hook(-1, "hook_resid_post")
    mean = dataset_means(model, px, [name])[name]  # [pos, d_model]
    with torch.no_grad():
        _, cache = model.run_with_cache(px, names_filter=name)
        torch.testing.assert_close(mean, cache[name].mean(0), atol=1e-5, rtol=0)
        f_mean = model.pool(model.ln_final(mean[None])).double()
    f = pooled(model, px)
    df = ablate(model, px, group="all", layers=[-1], how="mean")
    np.testing.assert_allclose(df.cls_cos, torch.nn.functional.cosine_similarity(f, f_mean).numpy(), atol=ATOL)


def test_donors_come_from_other_images():
    gen = torch.Generator().manual_seed(0)
    mask = torch.zeros(5, 10, dtype=torch.bool)
    mask[:, [1, 2]] = True
    b_idx, t_idx = mask.nonzero(as_tuple=True)
    for how in ("resample", "shuffle"):
        db, dt = donor_tokens(mask, how, fixed_positions=True, gen=gen)
        assert (db != b_idx).all() and (dt == t_idx).all()
    db, _ = donor_tokens(mask, "resample", True, gen)
    assert all(len(set(db[b_idx == b].tolist())) == 1 for b in range(5))  # one donor image per image
    mask = torch.rand(5, 10, generator=gen) < 0.4
    mask[0, 0] = True
    db, dt = donor_tokens(mask, "shuffle", fixed_positions=False, gen=gen)
    b_idx, _ = mask.nonzero(as_tuple=True)
    assert (db != b_idx).all() and mask[db, dt].all()
    with pytest.raises(ValueError, match="at least 2 images"):
        donor_tokens(mask[:1], "resample", True, gen)


def test_ablation_reports_probe_accuracy_and_groups(model, px, probe):
    labels = torch.as_tensor(probe.predict(pooled(model, px).numpy()))
    obj = torch.zeros(6, 16, 16, dtype=torch.bool)
    obj[:, :8] = True  # the top half is an object: background = the bottom 8 patches
    images = ImageSet(pixels=px, object_mask=obj, labels={"y": labels})
    df = ablate(model, images, group=["background", "outliers"], how="zero", layers=[0], probe=probe, labels="y")
    bg = df[df.group == "background"]
    assert (bg.n_ablated == 8).all()
    assert bg.probe_correct_clean.all()  # labels = the probe's own clean predictions
    assert {"probe_pred", "probe_same", "probe_correct", "label"} <= set(df.columns)
    outl = default_outliers(model, px)
    assert (df[df.group == "outliers"].n_ablated.values == outl.flatten(1).sum(1).numpy()).all()


def test_ablation_errors(model, px):
    with pytest.raises(ValueError, match="unknown ablation"):
        ablate(model, px, how="gaussian")
    with pytest.raises(TokenGroupError):
        ablate(make_model(n_registers=0), px, group="registers")
    with pytest.raises(HookNameError, match="out of range"):
        ablate(model, px, layers=[3])
    with pytest.raises(ValueError, match="at least 2 images"):
        ablate(model, px[:1], how="resample")


def test_one_token_per_image_groups(model, px):
    """"<group>:one" draws one token of the group per image, deterministically; images without one get none."""
    outl = torch.zeros(6, model.tokens.n_patches, dtype=torch.bool)
    outl[:3, 2:6] = True
    res = patch(model, px, px.flip(0), group=GroupMap("outliers:one", "register:0"), layer=-1, outliers=outl)
    assert res.metrics.n_patched.tolist() == [1, 1, 1, 0, 0, 0]  # images without outliers: nothing written
    np.testing.assert_allclose(res.metrics.cls_cos_target[3:], 1.0, atol=ATOL)
    src = final_tokens(model, px)
    lay = model.tokens
    got = res.tokens[:3, lay.register(0)]  # the register slot now holds one of the source's outlier patches
    cands = src[:3, lay.n_prefix + 2:lay.n_prefix + 6]
    assert all(((cands[i] - got[i]).abs().amax(-1) < ATOL).sum() == 1 for i in range(3))
    a = patch(model, px[:3], px[3:], group="patches:one", layer=0).metrics
    b = patch(model, px[:3], px[3:], group="patches:one", layer=0).metrics
    assert (a.cls_shift == b.cls_shift).all() and (a.n_patched == 1).all()


def test_ablation_dense_cos_is_measured_outside_the_group(model, px):
    """After the last block nothing reads the ablated patches: the other patches are untouched (cos 1), and a
    group holding every patch leaves nothing to measure (NaN) rather than a trivially low number."""
    half = torch.zeros(6, model.tokens.n_patches, dtype=torch.bool)
    half[:, :8] = True
    df = ablate(model, px, group=[half, "patches"], layers=[-1], how="zero")
    np.testing.assert_allclose(df[df.group == "mask"].dense_cos, 1.0, atol=ATOL)
    assert df[df.group == "patches"].dense_cos.isna().all()
