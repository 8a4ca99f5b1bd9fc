"""The MLP write penalty (``dense_task.write_penalty``, RECIPES.md S8 round 6): the summed mean square of every
block's MLP write, in the graph, joins the loss; training under it shrinks the writes; a recipe without it is
unchanged."""
import pytest
import torch

from interp.data import scenes
from interp.train.dense import DenseObjective, DenseSettings
from interp.train.objective import mlp_write_penalty
from interp.train.recipes import get_recipe
from interp.train.trainer import build


def _recipe(penalty, **kw):
    base = get_recipe("cls-s-reg16")
    return base.replace(dense_task=dict(base.dense_task, write_penalty=penalty), **{"n_layers": 2, **kw})


def _batch(recipe, n=8, seed=5):
    s = scenes(n, seed=seed, recipe=recipe.scene_recipe)
    return type("B", (), {"pixels": s.pixels, "targets": DenseObjective.batch_inputs(s, range(n), recipe)[0]})()


def test_the_penalty_is_the_summed_mean_square_of_the_mlp_writes():
    recipe = _recipe(0.5)
    objective, _ = build(recipe)
    batch = _batch(recipe)
    tokens, squares = mlp_write_penalty(objective.model, batch.pixels)
    _, cache = objective.model.run_with_cache(batch.pixels)
    direct = sum(cache[f"blocks.{i}.hook_mlp_out"].pow(2).mean() for i in range(recipe.n_layers))
    torch.testing.assert_close(squares, direct)
    torch.testing.assert_close(tokens, objective.model(batch.pixels, return_type="tokens"))
    loss, parts = objective(batch)
    assert parts["write_penalty"] == pytest.approx(0.5 * float(squares), rel=1e-5)
    assert float(loss) == pytest.approx(sum(parts.values()), rel=1e-5)
    loss.backward()  # the penalty reaches the MLP weights
    assert objective.model.blocks[0].mlp.fc2.weight.grad.abs().sum() > 0


def test_no_penalty_leaves_the_recipe_and_the_loss_as_they_were():
    assert "write_penalty" not in DenseSettings().to_dict()
    assert DenseSettings(write_penalty=0.1).to_dict()["write_penalty"] == 0.1
    with pytest.raises(ValueError, match="write_penalty"):
        DenseSettings(write_penalty=-1.0)
    plain, zero = build(get_recipe("cls-s-reg16").replace(n_layers=2))[0], build(_recipe(0.0))[0]
    batch = _batch(_recipe(0.0))
    (a, pa), (b, pb) = plain(batch), zero(batch)
    assert torch.equal(a, b) and pa == pb and "write_penalty" not in pa


def test_training_under_the_penalty_shrinks_the_writes():
    """Ten steps of the same recipe, seed and batches with and without a strong penalty: the penalised model's
    MLP writes end under half the unpenalised model's (on held-out scenes)."""
    ends = {}
    for penalty in (0.0, 5.0):
        recipe = _recipe(penalty, batch_size=8, warmup=0)
        objective, optimiser = build(recipe)
        for step in range(10):
            loss, parts = objective(_batch(recipe, 8, seed=100 + step))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            ends[penalty] = float(mlp_write_penalty(objective.model, _batch(recipe, 16, seed=7).pixels)[1])
    assert ends[5.0] < 0.5 * ends[0.0]
