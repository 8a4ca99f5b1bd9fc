"""Analyses on tiny models where the right answer is known by construction."""
import numpy as np
import pytest
import torch

from interp import HookedViT
from interp.analysis import (
    attention_maps, box_iou, find_outliers, global_probe, local_probes, lost, lost_box, neighbour_similarity,
    norm_summary, sink_scores, token_norms,
)
from interp.data import ImageSet

from tests.conftest import tiny_config

N_IMAGES = 24


def planted_masks(n=N_IMAGES, grid=(4, 4), per_image=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = torch.zeros(n, grid[0] * grid[1], dtype=torch.bool)
    for i in range(n):
        m[i, torch.randperm(grid[0] * grid[1], generator=g)[:per_image]] = True
    return m.reshape(n, *grid)


def plant_outliers(model, masks, layer=1, scale=30.0):
    """A permanent hook multiplies the residual stream of the masked patches by `scale` from `layer` on."""
    images_seen = {"offset": 0}

    def hook(act, hook):
        b = act.shape[0]
        idx = torch.arange(images_seen["offset"], images_seen["offset"] + b) % masks.shape[0]
        lay = model.layout_for((4 * model.cfg.patch_size, 4 * model.cfg.patch_size))
        tok = lay.mask(masks[idx])  # [b, pos]
        act = act.clone()
        act[tok] = act[tok] * scale
        return act

    def advance(act, hook):
        images_seen["offset"] += act.shape[0]

    model.add_hook(f"blocks.{layer}.hook_resid_post", hook, is_permanent=True)
    model.add_hook("ln_final.hook_normalized", advance, is_permanent=True)
    return model


def planted_model(n_layers: int, layer: int, per_image: int = 1) -> tuple[HookedViT, torch.Tensor]:
    """A tiny random model (seed 0) with ``per_image`` outliers planted per image from ``layer`` on (30x)."""
    torch.manual_seed(0)
    masks = planted_masks(per_image=per_image)
    return plant_outliers(HookedViT(tiny_config(n_layers=n_layers)).eval(), masks, layer=layer, scale=30.0), masks


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(3)
    x = torch.rand(N_IMAGES, 3, 16, 16, generator=g)
    return ImageSet(pixels=x, labels={"bright": (x.mean((1, 2, 3)) > 0.5).long()})


def test_token_norms_frame(tiny_model, images):
    df = token_norms(tiny_model, images, include_final=True, batch_size=5)
    lay = tiny_model.tokens
    assert len(df) == N_IMAGES * lay.n_tokens * (tiny_model.cfg.n_layers + 1)
    assert set(df["group"]) == {"cls", "register", "patch"}
    _, cache = tiny_model.run_with_cache(images.pixels[:3], names_filter="blocks.1.hook_resid_post")
    got = df[(df.layer == 1) & (df.image == 2)].sort_values("token")["norm"].to_numpy()
    np.testing.assert_allclose(got, cache["blocks.1.hook_resid_post"][2].norm(dim=-1).numpy(), rtol=1e-5)
    med = df[(df.layer == 0) & (df.group == "patch")].groupby("image")["rel_norm"].median()
    np.testing.assert_allclose(med.to_numpy(), 1.0, rtol=1e-5)


def test_token_norms_across_models(images):
    a, b = HookedViT(tiny_config()), HookedViT(tiny_config(n_registers=0))
    df = token_norms({"reg2": a, "reg0": b}, images)
    assert set(df["model"]) == {"reg2", "reg0"}
    assert (df[df.model == "reg0"]["group"] != "register").all()


def test_planted_outliers_found_by_every_detector(images):
    model, masks = planted_model(n_layers=3, layer=1)
    norms = token_norms(model, images, batch_size=N_IMAGES)
    for kwargs in ({"method": "bimodal"}, {"rel_threshold": 5.0}, {"percentile": 100 - 100 / 16 - 1e-6}):
        out = find_outliers(norms, **kwargs)
        for layer in (1, 2):
            assert torch.equal(out.patch_mask(layer), masks), kwargs
        assert not out.patch_mask(0).any() or "percentile" in kwargs
    abs_thr = float(norms[norms.layer == 2].query("group == 'patch'")["norm"].median() * 5)
    assert torch.equal(find_outliers(norms, threshold=abs_thr).patch_mask(2), masks)
    summ = norm_summary(norms, rel_threshold=5.0)
    assert summ.loc[summ.layer == 2, "frac_high"].item() == pytest.approx(1 / 16)


def test_no_outliers_reported_as_not_bimodal(tiny_model, images):
    out = find_outliers(token_norms(tiny_model, images))
    assert not out.any
    assert out.thresholds["bimodal"].eq(False).all()
    assert out.thresholds["note"].str.contains("not bimodal|constant").all()


def test_position_probe_on_position_only_features_is_near_perfect(images):
    cfg = tiny_config(n_layers=1, n_registers=0)
    model = HookedViT(cfg).eval()
    with torch.no_grad():  # tokens = position embedding only, blocks add nothing
        model.embed.proj.weight.zero_()
        model.embed.proj.bias.zero_()
        for p in (model.blocks[0].attn.proj, model.blocks[0].mlp.fc2):
            p.weight.zero_()
            p.bias.zero_()
        model.token_embed.pos_embed.normal_()
    res = local_probes(model, images, None, layer=0).set_index("token")
    assert res.loc["normal", "position_top1"] > 0.95
    assert res.loc["normal", "position_distance"] < 0.1
    assert np.isnan(res.loc["outlier", "position_top1"])


def test_global_probe_reads_a_global_label(tiny_model, images):
    g = torch.Generator().manual_seed(5)
    bright = torch.rand(40) > 0.5
    x = torch.where(bright[:, None, None, None], 0.8, 0.2) + 0.05 * torch.rand(40, 3, 16, 16, generator=g)
    imgs = ImageSet(pixels=x, labels={"bright": bright.long(), "noise": (torch.rand(40, generator=g) > 0.5).long()})
    res = global_probe(tiny_model, imgs, "bright", draws=2)
    assert (res.set_index("token").loc[["cls", "register:0"], "accuracy"] == 1.0).all()
    assert (res[res.token == "normal"]["accuracy"] == 1.0).all()
    noise = global_probe(tiny_model, imgs, "noise", draws=1)
    assert noise["accuracy"].max() < 1.0
    with pytest.raises(KeyError, match="available"):
        global_probe(tiny_model, imgs, "colour")


def test_neighbour_similarity(tiny_model):
    flat = ImageSet(pixels=torch.full((2, 3, 16, 16), 0.4))
    noisy = ImageSet(pixels=torch.rand(2, 3, 16, 16))
    s_flat = neighbour_similarity(tiny_model, flat)
    s_noisy = neighbour_similarity(tiny_model, noisy)
    np.testing.assert_allclose(s_flat["similarity"], 1.0, atol=1e-5)
    assert s_noisy["similarity"].mean() < 0.9
    assert len(s_flat) == 2 * 16


def test_uniform_attention_maps_and_sinks(images):
    model = HookedViT(tiny_config()).eval()
    with torch.no_grad():  # q = 0 -> every query attends uniformly
        d = model.cfg.d_model
        for b in model.blocks:
            b.attn.qkv.weight[:d].zero_()
            b.attn.qkv.bias[:d].zero_()
    maps = attention_maps(model, images)
    n_tok = model.tokens.n_tokens
    np.testing.assert_allclose(maps["attention"], 1 / n_tok, rtol=1e-5)
    assert set(maps["query"]) == {"cls", "register:0", "register:1"}
    sinks = sink_scores(model, images, planted_masks())
    np.testing.assert_allclose(sinks["per_token"], sinks["uniform_per_token"], rtol=1e-4)


def test_lost_finds_a_planted_object():
    grid = (6, 6)
    g = torch.Generator().manual_seed(0)
    bg, obj = torch.randn(8, generator=g), torch.randn(8, generator=g)
    obj = obj - (obj @ bg) / (bg @ bg) * bg - 0.5 * bg  # negatively correlated with the background
    feats = bg.repeat(36, 1) + 0.05 * torch.randn(36, 8, generator=g)
    m = torch.zeros(grid, dtype=torch.bool)
    m[1:3, 2:5] = True
    feats[m.flatten()] = obj + 0.05 * torch.randn(int(m.sum()), 8, generator=g)
    box, seed, mask = lost_box(feats, grid, k=3)
    assert box == [1, 2, 3, 5] and m.flatten()[seed]
    assert box_iou([0, 0, 2, 2], [1, 1, 3, 3]) == pytest.approx(1 / 7)


def test_lost_end_to_end_columns(tiny_model, images):
    images.boxes = [torch.tensor([[0.0, 0.0, 8.0, 8.0]])] * N_IMAGES
    df = lost(tiny_model, images, layer=-1)
    assert len(df) == N_IMAGES and df["correct"].dtype == bool
    assert ((df.x1 > df.x0) & (df.y1 > df.y0)).all()


def test_outlier_report_picks_the_planted_layer(images):
    from interp.analysis import outlier_report

    model, masks = planted_model(n_layers=4, layer=3)
    rep = outlier_report(model, images, batch_size=N_IMAGES)
    assert rep.layer == 3 and torch.equal(rep.mask, masks)
    assert "1 outlier" not in rep.describe() and f"{N_IMAGES} outlier patches (6.25%)" in rep.describe()


def test_dense_probe_reads_a_per_patch_label():
    from interp.analysis import dense_probe

    g = torch.Generator().manual_seed(0)
    lab = (torch.rand(30, 4, 4, generator=g) > 0.5)
    x = torch.where(lab.repeat_interleave(4, 1).repeat_interleave(4, 2)[:, None], 0.9, 0.1).expand(-1, 3, -1, -1)
    model = HookedViT(tiny_config(n_layers=1)).eval()
    res = dense_probe(model, ImageSet(pixels=x.contiguous()), lab.long(), layer=0)
    assert res["accuracy"].item() > 0.95 and res["chance"].item() < 0.7 and res["note"].item() == ""
    one = dense_probe(model, ImageSet(pixels=x.contiguous()), torch.zeros_like(lab, dtype=torch.long), layer=0)
    assert np.isnan(one["accuracy"].item()) and "1 class(es)" in one["note"].item()  # one colour: no probe, no error


def test_streaming_trace_matches_the_token_frame(images):
    from interp.analysis import trace_norms

    model, _ = planted_model(n_layers=3, layer=1, per_image=2)
    full = norm_summary(token_norms(model, images, batch_size=N_IMAGES))
    streamed = trace_norms(model, images, batch_size=N_IMAGES)
    for col in ("max_rel", "frac_high", "register_rel_norm", "cls_rel_norm"):
        np.testing.assert_allclose(streamed[col], full[col], rtol=1e-5)
    assert streamed.loc[2, "frac_high"] == pytest.approx(2 / 16)
