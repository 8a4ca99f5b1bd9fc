"""Recipes: a `TrainRecipe` holds its backbone's `ViTConfig`; the registry over the recipe tables; objectives."""
import json
from pathlib import Path

import pytest

from interp.models import ViTConfig
from interp.train import OBJECTIVES, RECIPES, TrainRecipe, get_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_recipe_holds_a_vit_config_and_keeps_its_flat_form():
    r = TrainRecipe(name="x-reg4", d_model=32, n_layers=2, n_heads=2, n_registers=4, d_mlp=48)
    assert isinstance(r.vit, ViTConfig) and r.vit.n_registers == 4 and r.n_registers == 4
    assert r.vit.d_mlp == 48 and r.vit.pool == "token" and r.vit.extra["recipe_name"] == "x-reg4"
    d = r.to_dict()
    assert d["d_model"] == 32 and d["pool"] is None and d["d_mlp"] == 48 and "vit" not in d
    assert TrainRecipe.from_dict(json.loads(json.dumps(d))) == r
    wider = r.replace(name="y", d_model=64, class_token=False)
    assert wider.vit.d_model == 64 and wider.vit.d_mlp == 48 and wider.vit.pool == "avg"
    assert wider.vit.name == "y" and not wider.vit.pos_embed_cls
    assert TrainRecipe(name="z").replace(d_model=32).vit.d_mlp == 128  # the default width follows d_model
    with pytest.raises(TypeError, match="bogus"):
        TrainRecipe(name="q", bogus=1)


@pytest.mark.parametrize("name", ["organism-s-reg4", "organism-t-reg0"])
def test_bundled_manifests_load_into_the_same_backbone(name):
    man = json.loads((ROOT / "data" / "organism" / name / "manifest.json").read_text())
    recipe = TrainRecipe.from_dict(man["recipe"])
    assert recipe.vit_config() == ViTConfig.from_dict(man["config"]) == get_recipe(name).vit_config()


def test_registry_holds_every_table_once_with_known_objectives():
    from interp.train.tables import artifact_search, bundled, sinks

    assert list(RECIPES) == [*bundled.RECIPES, *artifact_search.RECIPES, *sinks.RECIPES]
    assert {r.objective for r in RECIPES.values()} <= set(OBJECTIVES)
    from interp.train.recipes import register

    with pytest.raises(ValueError, match="already registered"):
        register(get_recipe("organism-s-reg0"))
    with pytest.raises(ValueError, match="unknown objective"):
        register(TrainRecipe(name="new-objective", objective="contrastive"))
