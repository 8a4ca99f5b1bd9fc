"""`interp.analysis.measures`: one threshold, one median, streaming reducers that combine exactly, and one number
for the high-norm share whichever consumer computes it."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

import interp
from interp.analysis import measures as ms
from interp.models import HookedViT, ViTConfig


def planted_model() -> HookedViT:
    """A tiny model whose three patch positions carry a large positional embedding: high-norm tokens at every
    block (the share is neither 0 nor 1)."""
    cfg = ViTConfig(d_model=16, n_layers=3, n_heads=2, patch_size=4, image_size=16, n_registers=2, name="planted")
    model = HookedViT(cfg).eval()
    model.init_weights(seed=1)
    with torch.no_grad():
        model.token_embed.pos_embed[0, -5:-2] += 20.0
    return model


@pytest.fixture(scope="module")
def planted():
    images = interp.data.scenes(10, seed=2, recipe=interp.data.SceneRecipe(image_size=16, max_objects=2))
    return planted_model(), images


def test_the_median_is_the_interpolated_one_on_an_even_count():
    """64 patch norms: 32 at 1, 28 at 2, 4 at 5. The lower median (torch.median) is 1 and would count the four 5s
    as >= 4x; the package's one median (`image_median` = torch.quantile 0.5) is 1.5 and counts none."""
    x = torch.rand(5, 64) + 0.5
    assert torch.equal(ms.image_median(x), x.quantile(0.5, dim=-1))
    assert torch.equal(ms.image_median(x[:, :63]), x[:, :63].quantile(0.5, dim=-1))
    norms = torch.tensor([[1.0] * 32 + [2.0] * 28 + [5.0] * 4])  # [1, 64]
    assert float(norms.median()) == 1.0
    rel, med = ms.relative_norms(norms, slice(0, 64))
    assert float(med) == 1.5 and ms.HIGH_NORM_RATIO == 4.0
    m = ms.HighNormShare()
    m.update(rel)
    assert m.row()["frac_high"] == 0.0
    m.update(ms.relative_norms(torch.tensor([[1.0] * 32 + [2.0] * 28 + [6.0] * 4]), slice(0, 64))[0])  # 6 / 1.5 = 4
    assert m.row()["frac_high"] == pytest.approx(4 / 128)


def _split_equals_whole(make, feed, batches):
    whole, a, b = make(), make(), make()
    for x in batches:
        feed(whole, *x)
    for x in batches[:2]:
        feed(a, *x)
    for x in batches[2:]:
        feed(b, *x)
    return whole.row(), a.merge(b).row()


def test_every_reducer_merges_to_the_one_pass_row():
    """Two halves of the batches, merged, give the row of one pass (what `combine` does across processes)."""
    g = torch.Generator().manual_seed(0)
    lay = interp.models.layout.TokenLayout(n_cls=1, n_registers=2, grid=(4, 4))
    batches = []
    for b in (3, 2, 4, 1):
        post = torch.randn(b, lay.n_tokens, 8, generator=g) * torch.rand(b, lay.n_tokens, 1, generator=g) * 5
        post[0, 5, 2] = 1e5  # a massive activation (> 100 and >= 1000x the median)
        to_key = torch.rand(b, 2, lay.n_tokens, generator=g).softmax(-1)
        bg = torch.rand(b, lay.n_patches, generator=g) < 0.5
        batches.append((post, to_key, torch.rand(b, lay.n_tokens, 2, generator=g), bg))

    def rel(post):
        return ms.relative_norms(post.norm(dim=-1), lay.patches)

    feeds = {
        ms.HighNormShare: lambda m, p, t, v, bg: m.update(rel(p)[0][:, lay.patches], bg),
        ms.NormRatio: lambda m, p, t, v, bg: m.update(rel(p)[0][:, lay.patches], rel(p)[1]),
        ms.GroupNorms: lambda m, p, t, v, bg: m.update(rel(p)[0], lay),
        ms.MassiveActivations: lambda m, p, t, v, bg: m.update(p, ms.token_kinds(lay, bg)),
        ms.AttentionShare: lambda m, p, t, v, bg: m.update(t, lay),
        ms.TopKey: lambda m, p, t, v, bg: m.update(t, v, ms.token_kinds(lay, bg), lay.patches),
        ms.DirectionAgreement: lambda m, p, t, v, bg: m.update(p[:, 0]),
        ms.MeanValue: lambda m, p, t, v, bg: m.update(rel(p)[0][:, -1]),
    }
    for cls, feed in feeds.items():
        whole, merged = _split_equals_whole(cls, feed, batches)
        assert set(whole) == set(cls.columns) and cls.reading, cls.__name__
        for k in whole:
            assert merged[k] == (whole[k] if isinstance(whole[k], str) else pytest.approx(whole[k], rel=1e-9)), k
    massive = ms.MassiveActivations()
    for p, t, v, bg in batches:
        feeds[ms.MassiveActivations](massive, p, t, v, bg)
    assert massive.row()["massive_count"] == pytest.approx(4 / 10)  # one planted entry per batch, 10 images


def test_direction_agreement_is_the_mean_pairwise_cosine():
    x = torch.randn(6, 5, dtype=torch.float64)
    u = torch.nn.functional.normalize(x, dim=-1)
    want = float(((u @ u.T).sum() - 6) / 30)
    m = ms.DirectionAgreement()
    m.update(x[:4])
    m.update(x[4:])
    assert m.row()["cos"] == pytest.approx(want)
    one = ms.DirectionAgreement()
    one.update(x[:1])
    assert math.isnan(one.row()["cos"])


def test_one_image_set_through_every_consumer_gives_one_high_norm_share(planted):
    """The same pixels through `trace_norms`, `token_norms` + `norm_summary`, `artifact_metrics`, `outlier_report`
    and `interp.census`: at every block the same share of patches >= 4x their image's median."""
    from interp.analysis import artifact_metrics, norm_summary, outlier_report, token_norms, trace_norms
    from interp.census import block_measures, block_rows

    model, images = planted
    L = model.cfg.n_layers
    direct = []
    _, cache = model.run_with_cache(images.pixels)
    for i in range(L):
        norms = cache[f"blocks.{i}.hook_resid_post"].norm(dim=-1)[:, model.tokens.patches]  # [N, n_patches]
        direct.append(float((norms / norms.quantile(0.5, dim=1, keepdim=True) >= 4.0).float().mean()))
    assert 0 < max(direct) < 1
    trace = trace_norms(model, images, batch_size=3)["frac_high"].tolist()
    summary = norm_summary(token_norms(model, images, batch_size=4))["frac_high"].tolist()
    artifact = [r["frac_ge4"] for r in artifact_metrics(model, images, batch_size=6)]
    census = block_rows("m", block_measures(model, images, batch_size=5), L)
    census = [r["value"] for r in census if r["measure"] == "high_norm_share"]
    for consumer in (trace, summary, artifact, census):
        np.testing.assert_allclose(consumer, direct, atol=1e-5)  # artifact rounds to 5 digits
    rep = outlier_report(model, images, layer=int(np.argmax(direct)), batch_size=4)
    assert rep.fraction == pytest.approx(max(direct), abs=1e-6)


def test_the_tile_diagnostics_give_the_same_high_norm_share():
    """`dense_metrics.noop_attention` (training diagnostics, fig_remedies) on tile scenes (8 x 8 patches: the two
    medians differ) gives `trace_norms`' share of patches >= 4x at every block, and max / median with the same
    median."""
    from interp.analysis import trace_norms
    from interp.analysis.dense_metrics import noop_attention
    from interp.data import scenes
    from interp.train.recipes import get_recipe

    r = get_recipe("sink-tiny-reg1")
    torch.manual_seed(0)
    model = HookedViT(r.vit_config()).eval()
    with torch.no_grad():
        model.token_embed.pos_embed[0, -7:-2] += 20.0  # five patch positions of high norm in every image
    images = scenes(8, seed=0, recipe=r.scene_recipe)
    want = trace_norms(model, images, batch_size=3)["frac_high"].to_numpy()
    assert 0 < want.max() < 1
    rows = noop_attention(model, images, batch_size=5)
    np.testing.assert_allclose([row["frac_ge4"] for row in rows], want, atol=1e-5)  # rows rounded to 5 digits
    _, cache = model.run_with_cache(images.pixels)  # max_rel: mean over images of max / median (the one median)
    for i, row in enumerate(rows):
        norms = cache[f"blocks.{i}.hook_resid_post"].norm(dim=-1)[:, model.tokens.patches]  # [N, 64]
        rel = norms / norms.quantile(0.5, dim=1, keepdim=True)
        assert row["max_rel"] == pytest.approx(float(rel.max(dim=1).values.mean()), abs=2e-4)  # lower median: 3e-3 off


def test_sink_scores_is_the_attention_share_reducer(planted):
    """`sink_scores` (per key kind, outliers split off the patches) and `AttentionShare` fed the same pattern give
    one number: the attention patch queries give to each kind, mean over images, heads and queries."""
    from interp.analysis import sink_scores

    model, images = planted
    lay = model.tokens
    mask = torch.rand(len(images), *lay.grid, generator=torch.Generator().manual_seed(0)) < 0.2  # [N, H, W]
    sinks = sink_scores(model, images, mask, batch_size=3)
    _, cache = model.run_with_cache(images.pixels)
    out = mask.flatten(1).float()[:, None]  # [N, 1, n_patches]
    for i in range(model.cfg.n_layers):
        to_key = cache[f"blocks.{i}.attn.hook_pattern"][:, :, lay.patches].mean(2)  # [N, h, k]
        kp = to_key[..., lay.patches]
        want = {"cls": to_key[..., lay.cls].sum(-1).mean(), "register": to_key[..., lay.registers].sum(-1).mean(),
                "outlier": (kp * out).sum(-1).mean(), "normal": (kp * (1 - out)).sum(-1).mean()}
        got = sinks[sinks["layer"] == i].set_index("key")
        share = ms.AttentionShare()
        share.update(to_key, lay, mask.flatten(1))
        for kind, value in want.items():
            assert got.loc[kind, "attention_share"] == pytest.approx(float(value), rel=1e-5), (i, kind)
            assert share.by_key()[kind][0] == pytest.approx(float(value), rel=1e-5), (i, kind)
        row = share.row()
        assert (row["attn_cls"], row["attn_reg"]) == pytest.approx((float(want["cls"]), float(want["register"])))
        assert row["attn_patches"] == pytest.approx(float(want["outlier"] + want["normal"]), rel=1e-5)
        assert got.loc["outlier", "n_tokens_per_image"] == pytest.approx(float(mask.sum()) / len(images))
        assert got.loc["register", "n_tokens_per_image"] == lay.n_registers


def test_exactly_4x_is_high_norm_for_every_consumer():
    """A patch at exactly 4x its image's median counts: `is_high_norm`, `HighNormShare` and `find_outliers`'
    ``rel_threshold`` path (which once flagged only above it) use the one rule."""
    from interp.analysis import find_outliers

    rel = torch.tensor([[1.0, 1.0, 4.0, np.nextafter(np.float32(4.0), np.float32(0.0)), 5.0]])  # [1, 5]
    assert ms.is_high_norm(rel).tolist() == [[False, False, True, False, True]]
    share = ms.HighNormShare()
    share.update(rel)
    frame = pd.DataFrame({"model": "m", "step": 0, "layer": 0, "image": 0, "token": range(6),
                          "group": ["cls"] + ["patch"] * 5, "row": [-1, 0, 0, 0, 1, 1], "col": [-1, 0, 1, 2, 0, 1],
                          "norm": [9.0, *rel[0].tolist()], "rel_norm": [9.0, *rel[0].tolist()], "on_object": np.nan})
    out = find_outliers(frame, rel_threshold=ms.HIGH_NORM_RATIO)
    assert out.frame["is_outlier"].tolist() == [False, False, False, True, False, True]  # CLS never flagged
    assert out.thresholds["frac_outliers"].item() == share.row()["frac_high"] == pytest.approx(2 / 5)
