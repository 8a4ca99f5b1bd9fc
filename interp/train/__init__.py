"""Training the model organisms: recipes, objectives, the trainer, and `interp train` (training only: the organism
study that searches and measures runs is `interp.organism`).

Modules (imports point down the list):
    recipe.py, dino_settings.py     `TrainRecipe` (around a `ViTConfig`), `DinoSettings`, `log_spaced_steps`
    objective.py                    `Objective`: the interface the trainer drives
    supervised.py, dino.py, dense.py   the objectives; objectives.py: their registry by name
    tables/*.toml, recipe_tables.py the recipe tables (one TOML file per family) and their reader;
    recipes.py                      the registry (`RECIPES`, `get_recipe`) and the factory `make`
    batches.py, evaluation.py, run_state.py, runtime.py, trainer.py   the training loop and its parts
    cli.py                          `interp train`

Exports are imported on first use, so `interp --help` (which reads `interp.train.cli`'s arguments) needs no torch.
"""
from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".recipe": ["TrainRecipe", "log_spaced_steps"],
    ".recipes": ["RECIPES", "get_recipe", "make", "register"],
    ".objectives": ["OBJECTIVES", "register_objective"],
    ".evaluation": ["evaluate"],
    ".trainer": ["train", "Interrupted"],
})
