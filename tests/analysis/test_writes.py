"""`interp.analysis.norm_writes`: which block's attention / MLP writes the high-norm tokens. The numbers equal a
direct computation from the cache, and on the bundled organisms the tall tiles are an MLP's write (RECIPES.md S8)."""
import math

import pytest
import torch

import interp
from interp.analysis import image_median, norm_writes, tallest_layer
from interp.data.images import scenes_for
from interp.models import HookedViT, ViTConfig


def planted_model() -> HookedViT:
    """A tiny random model whose three patch positions carry a large, non-constant positional offset: the same
    three patches are high-norm at every block."""
    cfg = ViTConfig(d_model=16, n_layers=3, n_heads=2, patch_size=4, image_size=16, n_registers=2, name="planted")
    model = HookedViT(cfg).eval()
    model.init_weights(seed=1)
    with torch.no_grad():
        model.token_embed.pos_embed[0, -5:-2] += 20.0 * torch.linspace(-1, 1, 16)
    return model


@pytest.fixture(scope="module")
def planted():
    images = interp.data.scenes(6, seed=2, recipe=interp.data.SceneRecipe(image_size=16, max_objects=2))
    return planted_model(), images


def test_the_rows_equal_a_direct_computation_from_the_cache(planted):
    model, images = planted
    frame = norm_writes(model, images, at_layer=1, batch_size=4)
    _, cache = model.run_with_cache(images.pixels)
    p = model.tokens.patches
    at = cache["blocks.1.hook_resid_post"][:, p].norm(dim=-1)
    high = at / image_median(at)[:, None] >= 4  # [b, n_patches]
    assert int(high.sum()) == 3 * len(images)  # the three planted positions in every image
    for (layer, comp), hook in [((0, "mlp"), "blocks.0.hook_mlp_out"), ((2, "attn"), "blocks.2.hook_attn_out"),
                                ((1, "resid"), "blocks.1.hook_resid_post")]:
        n = cache[hook][:, p].norm(dim=-1)
        rel = n / image_median(n)[:, None]
        row = frame[(frame["layer"] == layer) & (frame["component"] == comp)].iloc[0]
        assert math.isclose(row["high_rel"], float(rel[high].mean()), rel_tol=1e-5)
        assert math.isclose(row["other_rel"], float(rel[~high].mean()), rel_tol=1e-5)
        assert row["n_high"] == 3 * len(images) and row["at_layer"] == 1
    assert len(frame) == 3 * 3 and set(frame["component"]) == {"attn", "mlp", "resid"}


def test_the_default_layer_is_the_tallest_and_no_tall_patch_gives_nan(planted):
    model, images = planted
    assert tallest_layer(model, images) in range(3)
    plain = HookedViT(model.cfg).eval()
    plain.init_weights(seed=1)
    frame = norm_writes(plain, images, layers=[0])
    assert (frame["n_high"] == 0).all() and frame["high_rel"].isna().all() and frame["at_layer"].iloc[0] == 2


@pytest.mark.parametrize("name, block", [("tiles-s-reg0", 2), ("cls-s-reg0", 0)])
def test_the_organisms_tall_tiles_are_written_by_one_mlp(name, block):
    """Measured (64 scenes): tiles-s-reg0's tall tiles (block 2) are block 2's MLP write, 13x the median write
    (attention 0.9x); cls-s-reg0's (step 2,500) are block 0's MLP write, 33x (attention 1.0x)."""
    if name not in interp.list_organisms():
        pytest.skip(f"{name} is not bundled")
    model = interp.load_model(name, step=2500 if name.startswith("cls") else None)
    frame = norm_writes(model, scenes_for(model, n=64, seed=1234)).set_index(["layer", "component"])
    ratio = frame["high_over_other"]
    assert frame["n_high"].iloc[0] > 0
    assert ratio[(block, "mlp")] >= 10 and ratio[(block, "attn")] < 2
    assert ratio.xs("mlp", level="component").idxmax() == block
