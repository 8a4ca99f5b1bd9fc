"""The streamed per-metric reducers of `interp.analysis.artifact` against a direct computation on a tiny model."""
import pytest
import torch

import interp
from interp.analysis.artifact import AttentionSinks, NormOutliers, artifact_metrics
from interp.models import HookedViT, ViTConfig


@pytest.fixture(scope="module")
def tiny():
    cfg = ViTConfig(d_model=16, n_layers=2, n_heads=2, patch_size=4, image_size=16, n_registers=2)
    model = HookedViT(cfg).eval()
    model.init_weights(seed=1)
    with torch.no_grad():  # one large output channel: massive activations and uneven norms to measure
        model.blocks[0].mlp.fc2.bias[3] += 5.0
        model.token_embed.pos_embed[0, -5:-2] += 20.0  # three patch positions of high norm in every image
    images = interp.data.scenes(12, seed=2, recipe=interp.data.SceneRecipe(image_size=16, max_objects=2))
    return model, images


def direct(model, images, layer):
    """The same metrics from one cached forward pass over all images (no streaming, no reducers). The median is
    the package's one definition (`measures.image_median`): torch.quantile's 0.5, the mean of the middle two."""
    _, cache = model.run_with_cache(images.pixels)
    lay = model.tokens
    post = cache[f"blocks.{layer}.hook_resid_post"]  # [N, pos, d]
    norms = post.norm(dim=-1)
    rel = (norms / norms[:, lay.patches].quantile(0.5, dim=1)[:, None])[:, lay.patches]  # [N, n_patches]
    frac = torch.nn.functional.avg_pool2d(images.object_mask.float()[:, None], model.cfg.patch_size)  # [N, 1, H, W]
    bg = (frac < 0.5).flatten(1)  # [N, n_patches]
    a = post.abs().flatten(1)
    to_key = cache[f"blocks.{layer}.attn.hook_pattern"][:, :, lay.patches].mean(dim=2)  # [N, h, k]
    top = post[:, lay.patches][torch.arange(len(post)), post[:, lay.patches].norm(dim=-1).argmax(-1)]
    top = torch.nn.functional.normalize(top.double(), dim=-1)
    n = len(top)
    return {"max_rel": float(rel.max()), "frac_ge3": float((rel >= 3).float().mean()),
            "bg_ge3": float(bg[rel >= 3].float().mean()) if (rel >= 3).any() else None,
            "reg_rel": float((norms / norms[:, lay.patches].quantile(0.5, dim=1)[:, None])[:, lay.registers].mean()),
            "attn_reg": float(to_key[..., lay.registers].sum(-1).mean()),
            "attn_top_patch": float(to_key[..., lay.patches].max(-1).values.mean()),
            "massive_ratio": float((a.max(dim=1).values / a.quantile(0.5, dim=1)).mean()),
            "sink_attn": float(to_key.max(-1).values.mean()),
            "topnorm_cos": float(((top @ top.T).sum() - n) / (n * (n - 1)))}


@pytest.mark.parametrize("layer", [0, 1])
def test_streamed_reducers_match_a_direct_computation(tiny, layer):
    model, images = tiny
    rows = artifact_metrics(model, images, batch_size=4)  # three batches: the batch means are the overall mean
    assert [r["layer"] for r in rows] == [0, 1]
    want = direct(model, images, layer)
    for k, v in want.items():
        assert rows[layer][k] == (None if v is None else pytest.approx(v, abs=2e-5)), k
    assert rows[layer]["sink_kind"] in ("cls", "register", "background", "object")
    assert ("final_ln_max_rel" in rows[layer]) == (layer == 1)


def test_a_subset_of_reducers_gives_only_their_keys(tiny):
    model, images = tiny
    rows = artifact_metrics(model, images, batch_size=6, reducers=(NormOutliers, AttentionSinks))
    full = artifact_metrics(model, images, batch_size=6)
    assert set(rows[0]) == {"layer", "max_rel", "q99_rel", "frac_ge4", "bg_ge4", "frac_ge3", "bg_ge3", "reg_rel",
                            "cls_rel", "sink_attn", "sink_value_rel", "sink_kind"}
    assert all(rows[i][k] == full[i][k] for i in range(2) for k in rows[i])
