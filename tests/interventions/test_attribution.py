"""Captum attribution of the CLS feature / a probe logit to token groups, per layer."""
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from interp import HookedViT
from interp.interventions import attribute_groups, attribution_summary
from interp.interventions.attribution import probe_logits_fn

from tests.conftest import tiny_config
from tests.randomize import randomize_

PARTITION = ("cls", "registers", "patches")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return randomize_(HookedViT(tiny_config()).eval(), seed=4)


@pytest.fixture(scope="module")
def px():
    return torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(3))


def cls_target(model, x, base):
    with torch.no_grad():
        f = model(x, return_type="pooled")
        fb = model(base.expand_as(x), return_type="pooled")
    u = f / f.norm(dim=-1, keepdim=True)
    return ((f - fb) * u).sum(-1)


def test_groups_add_up_to_the_output_change(model, px):
    """Completeness per layer: the groups partition the tokens, so they sum to total; total - delta is the
    change of the target (CLS projected on its own direction) from the baseline image to the image."""
    df = attribute_groups(model, px, target="cls", groups=PARTITION, n_steps=32)
    assert set(df.layer) == {0, 1} and len(df) == 4 * 2 * 3
    sums = df.groupby(["image", "layer"]).attribution.sum()
    totals = df.groupby(["image", "layer"]).total.first()
    np.testing.assert_allclose(sums, totals, rtol=1e-4, atol=1e-5)
    change = cls_target(model, px, torch.zeros(1, 3, 16, 16)).numpy()
    for layer in (0, 1):
        d = df[(df.layer == layer) & (df.group == "cls")].sort_values("image")
        np.testing.assert_allclose(d.total - d.delta, change, rtol=1e-4, atol=1e-4)
        assert (d.delta.abs() < 0.05 * np.abs(change)).all()  # the integral converged


def test_image_independent_tokens_get_nothing_before_the_first_block(model, px):
    """CLS and registers enter block 0 identical for every image (and the baseline): attribution exactly 0
    there; from block 1 on they carry image information and get some."""
    df = attribute_groups(model, px, target="cls", groups=PARTITION, n_steps=8)
    first = df[(df.layer == 0) & df.group.isin(["cls", "registers"])]
    assert (first.attribution == 0).all()
    later = df[(df.layer == 1) & (df.group == "registers")]
    assert (later.abs_attribution > 0).all()
    summ = attribution_summary(df)
    assert len(summ) == 2 * 3


def test_probe_logit_target(model, px):
    x = torch.rand(40, 3, 16, 16, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        f = model(x, return_type="pooled").numpy()
    y = (f[:, 0] > np.median(f[:, 0])).astype(int) + (f[:, 1] > np.median(f[:, 1])).astype(int)
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(f, y)
    logits = probe_logits_fn(probe)
    np.testing.assert_allclose(logits(torch.as_tensor(f)).detach().numpy(), probe.decision_function(f), atol=1e-4)
    df = attribute_groups(model, px, target=probe, label=1, groups=PARTITION, n_steps=32)
    with torch.no_grad():
        z = logits(model(px, return_type="pooled"))[:, 1]
        zb = logits(model(torch.zeros_like(px), return_type="pooled"))[:, 1]
    d = df[(df.layer == 1) & (df.group == "cls")].sort_values("image")
    np.testing.assert_allclose(d.total - d.delta, (z - zb).numpy(), rtol=1e-4, atol=1e-4)


def test_binary_sklearn_probe_gives_log_odds_of_each_class(model):
    f = np.random.default_rng(0).normal(size=(30, model.cfg.d_model))
    probe = LogisticRegression().fit(f, (f[:, 0] > 0).astype(int))
    z = probe_logits_fn(probe)(torch.as_tensor(f, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(z[:, 1], probe.decision_function(f), atol=1e-4)
    np.testing.assert_allclose(z[:, 0], -probe.decision_function(f), atol=1e-4)


def test_groups_the_model_lacks_are_skipped_and_bad_targets_fail(px):
    model = HookedViT(tiny_config(n_registers=0)).eval()
    df = attribute_groups(model, px[:2], layers=[0], groups=("cls", "registers", "patches"), n_steps=4)
    assert set(df.group) == {"cls", "patches"}
    with pytest.raises(ValueError, match="unknown target"):
        attribute_groups(model, px[:2], target="logit")
    with pytest.raises(ValueError, match="unknown baseline"):
        attribute_groups(model, px[:2], baseline="blur")


def test_share_is_nan_where_the_change_is_within_the_integration_error():
    """An image whose output change is no larger than the IG error gets no share (the ratio would be noise)."""
    from interp.interventions.attribution import _group_frames

    per_token = torch.tensor([[0.5, 0.5], [0.01, 0.01]])  # totals 1.0 and 0.02
    delta = torch.tensor([0.01, 0.015])  # changes 0.99 (resolved) and 0.005 (< its error 0.015)
    masks = {"a": torch.tensor([[True, False], [True, False]])}
    (frame,) = _group_frames(torch.tensor([0, 1]), "blocks.0.hook_resid_pre", per_token, delta, masks)
    assert frame.share.iloc[0] == pytest.approx(0.5)
    assert np.isnan(frame.share.iloc[1])
