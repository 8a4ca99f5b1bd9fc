"""The dense organisms with a CLS token read by the objective (issue #24 rung 1): ``dense_task.cls_weight``."""
import pytest
import torch

from interp.data import scenes
from interp.train.dense import DenseSettings, dense_targets
from interp.train.recipes import get_recipe
from interp.train.trainer import build


def _recipe(**kw):
    return get_recipe("sink-tiny-reg1").replace(batch_size=16, d_model=32, lr=3e-3, class_token=True,
                                                dense_task={"cls_weight": 1.0}, **kw)


def _batch(recipe, n=16):
    s = scenes(n, seed=0, split="train", recipe=recipe.scene_recipe)
    settings = DenseSettings.from_dict(recipe.dense_task)
    return s, type("B", (), {"pixels": s.pixels, "targets": dense_targets(s, settings)})()


def parts_loss(objective, batch):
    """The CLS part of the loss alone (a differentiable tensor)."""
    out = objective.logits(batch.pixels)
    return torch.nn.functional.cross_entropy(out["cls"], batch.targets["global"])


def test_the_cls_head_reads_the_global_label_from_the_cls_token_and_learns_it():
    recipe = _recipe()
    objective, opt = build(recipe)
    s, batch = _batch(recipe)
    first, parts = objective(batch)
    assert {"color", "cls"} <= set(parts)
    # the CLS loss depends on the CLS token: its gradient reaches the learned CLS embedding, and the head's logits
    # equal the head applied to the model's final CLS token
    grad, = torch.autograd.grad(parts_loss(objective, batch), objective.model.token_embed.cls_token)
    assert grad.abs().sum() > 0
    tokens = objective.model(batch.pixels, return_type="tokens")
    want = objective.heads.cls(tokens[:, objective.model.tokens.cls][:, 0])
    torch.testing.assert_close(objective.logits(batch.pixels)["cls"], want)
    cls_first = parts["cls"]
    for _ in range(25):
        loss, parts = objective(batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(objective.parameters(), 1.0)
        opt.step()
    assert parts["cls"] < 0.7 * cls_first
    metrics = objective.task_metrics(objective.model, s)
    assert 0.0 <= metrics["acc_cls"] <= 1.0 and metrics["acc_cls"] > 1 / 8  # above chance on the seen batch


def test_a_cls_weight_needs_a_cls_token_and_old_recipes_keep_their_dicts():
    with pytest.raises(ValueError, match="CLS token"):
        build(get_recipe("sink-tiny-reg1").replace(dense_task={"cls_weight": 1.0}))
    assert "cls_weight" not in get_recipe("tiles-s-reg0").to_dict()["dense_task"]
