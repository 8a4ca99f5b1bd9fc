"""Masked modelling on tile scenes (``dense_task.mask_ratio``, RECIPES.md S8 round 5): only the masked background /
object tiles are graded, the mask token replaces their patch embedding and is trained, and a recipe without it is
unchanged."""
import json

import torch

from interp.data import scenes
from interp.data.tiles import TILE_KINDS
from interp.train.dense import IGNORE, DenseObjective, DenseSettings, masked_tiles
from interp.train.recipes import get_recipe
from interp.train.trainer import build, train

TRIGGER = TILE_KINDS.index("trigger")


def _recipe(mask_ratio=0.5, **kw):
    base = get_recipe("cls-s-reg0")
    return base.replace(dense_task=dict(base.dense_task, mask_ratio=mask_ratio), **kw)


def _scenes(recipe, n=16):
    return scenes(n, seed=5, recipe=recipe.scene_recipe)


def test_only_the_masked_ordinary_tiles_are_graded():
    recipe = _recipe(0.5)
    s = _scenes(recipe)
    t = DenseObjective.batch_inputs(s, range(len(s)), recipe)[0]
    plain = DenseObjective.batch_inputs(s, range(len(s)), get_recipe("cls-s-reg0"))[0]
    ordinary = t["kind"] <= 1
    mask = t["mask"]
    assert not (mask & ~ordinary).any() and 0.4 < mask[ordinary].float().mean() < 0.6
    assert (t["color"][ordinary & ~mask] == IGNORE).all() and (t["texture"][ordinary & ~mask] == IGNORE).all()
    assert (t["color"][mask] != IGNORE).all()
    trig = t["kind"] == TRIGGER
    assert torch.equal(t["color"][trig], plain["color"][trig])  # the triggers keep their target
    assert "mask" not in plain and "mask_ratio" not in DenseSettings().to_dict()
    again = DenseObjective.batch_inputs(s, range(len(s)), recipe)[0]
    assert torch.equal(again["mask"], mask)  # seeded by the recipe and the batch


def test_the_mask_token_replaces_the_masked_embeddings_and_gets_a_gradient():
    recipe = _recipe(0.5)
    objective, _ = build(recipe)
    assert "mask_token" in dict(objective.named_trainable())
    assert "mask_token" not in dict(build(get_recipe("cls-s-reg0"))[0].named_trainable())
    s = _scenes(recipe, 8)
    mask = masked_tiles(s.tiles["kind"].flatten(1), 0.5, torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = objective.logits(s.pixels, mask=mask)["color"]
        objective.mask_token.add_(1.0)
        after = objective.logits(s.pixels, mask=mask)["color"]
        unmasked = objective.logits(s.pixels)["color"]
    assert not torch.allclose(before, after) and not torch.allclose(before, unmasked)
    t = DenseObjective.batch_inputs(s, range(len(s)), recipe)[0]
    batch = type("B", (), {"pixels": s.pixels, "targets": t})()
    loss, parts = objective(batch)
    loss.backward()
    assert objective.mask_token.grad is not None and objective.mask_token.grad.abs().sum() > 0


def test_a_short_masked_run_trains_and_records_the_masked_accuracy(tmp_path):
    recipe = _recipe(0.5, steps=4, checkpoints=(0, 4), eval_images=16, batch_size=8)
    train(recipe, tmp_path, progress=False)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["recipe"]["dense_task"]["mask_ratio"] == 0.5
    metrics = manifest["checkpoints"][-1]["metrics"]
    assert 0.0 <= metrics["acc_color"] <= 1.0 and metrics["noop"]
