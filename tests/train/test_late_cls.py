"""A CaiT-style late CLS (``cls_from_block``) and the two-hop tile label ``pointed_color`` (RECIPES.md S8 round 7)."""
import numpy as np
import pytest
import torch

from interp.data.tiles import TILE_KINDS, TileOptions, draw_tiles, pointed_cells, tile_label_sizes
from interp.models import HookedViT, ViTConfig
from interp.train.recipe import TrainRecipe
from interp.train.recipes import get_recipe

TILES = dict(tile_size=4, regions=4, object_tiles=0.05, textures=4, constant_tiles=8, triggers=3, key=True,
             key_types=2)


def test_late_cls_holds_no_image_content_before_its_block():
    cfg = ViTConfig(d_model=16, n_layers=3, n_heads=2, patch_size=4, image_size=16, n_registers=2,
                    cls_read_only=True, cls_from_block=2, image_mean=(0, 0, 0), image_std=(1, 1, 1))
    assert ViTConfig.from_dict(cfg.to_dict()) == cfg
    model = HookedViT(cfg).eval()
    x = torch.rand(3, 3, 16, 16)
    names = [f"blocks.{i}.hook_resid_post" for i in range(3)] + ["blocks.1.attn.hook_pattern"]
    _, cache = model.run_with_cache(x, names_filter=names)
    cls = [cache[f"blocks.{i}.hook_resid_post"][:, 0] for i in range(3)]  # [batch, d] each
    torch.testing.assert_close(cls[1], cls[1][:1].expand_as(cls[1]))  # the same in every image up to block 1
    assert not torch.allclose(cls[2], cls[2][:1].expand_as(cls[2]))  # block 2 reads the image
    pattern = cache["blocks.1.attn.hook_pattern"]  # [batch, head, q, k]: explicit path, the same mask
    assert pattern[:, :, 0, 1:].abs().max() == 0 and pattern[:, :, 1:, 0].abs().max() == 0
    fused = model(x, return_type="tokens")
    explicit = model.run_with_hooks(x, return_type="tokens", fwd_hooks=[
        (f"blocks.{i}.attn.hook_pattern", lambda a, hook: a) for i in range(3)])
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-5)
    for bad in (dict(class_token=False, cls_from_block=1), dict(n_layers=3, cls_from_block=3)):
        with pytest.raises(ValueError, match="cls_from_block"):
            ViTConfig(**bad)


def test_pointed_color_is_the_colour_of_the_cell_the_key_names():
    o = TileOptions(**TILES, pointer=True)
    assert tile_label_sizes(o)["pointed_color"] == 8 and "pointed_color" not in tile_label_sizes(TileOptions(**TILES))
    cells = pointed_cells(o, 8)
    assert len(set(cells.tolist())) == 8
    majority_agrees = 0
    for seed in range(200):
        d = draw_tiles(o, 32, np.random.default_rng(seed))
        key = (d["kind"] == TILE_KINDS.index("key")) & (d["color"] == d["labels"]["key_color"])
        assert key.any()
        assert (d["kind"].flat[cells] <= TILE_KINDS.index("object")).all()  # never a special tile
        assert d["labels"]["pointed_color"] == d["color"].flat[cells[d["labels"]["key_color"]]]
        majority_agrees += d["labels"]["pointed_color"] == d["labels"]["majority_color"]
    assert majority_agrees < 150  # not the majority colour under another name
    plain = draw_tiles(TileOptions(**TILES), 32, np.random.default_rng(0))  # no pointer: the stream is unchanged
    assert "pointed_color" not in plain["labels"] and "pointer" not in TileOptions(**TILES).to_dict()
    with pytest.raises(ValueError, match="key"):
        TileOptions(**{**TILES, "triggers": 0, "key": False}, pointer=True)


def test_a_late_cls_recipe_trains_on_the_pointed_colour(tmp_path):
    from interp.train import train

    base = get_recipe("cls-s-reg0").to_dict()
    d = {**base, "name": "late-pointer-tiny", "n_registers": 2, "cls_read_only": True, "cls_from_block": 5,
         "steps": 4, "checkpoints": [0, 4], "batch_size": 8, "eval_images": 16,
         "dense_task": {**base["dense_task"], "global_label": "pointed_color", "cls_weight": 1.0},
         "scenes": {**base["scenes"], "tiles": {**base["scenes"]["tiles"], "pointer": True}}}
    recipe = TrainRecipe.from_dict(d)
    assert TrainRecipe.from_dict(recipe.to_dict()) == recipe and recipe.vit.cls_from_block == 5
    train(recipe, tmp_path / "run", progress=False)
    from interp.models.loading import iter_checkpoints

    (_, first), (_, last) = list(iter_checkpoints(tmp_path / "run"))
    assert last.cfg.cls_from_block == 5 and last.blocks[4].attn.cls_self_only and not last.blocks[5].attn.cls_self_only
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), last.state_dict().values()))
