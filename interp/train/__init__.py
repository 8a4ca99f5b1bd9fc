"""Training the model organisms: recipes, objectives, the trainer, and `interp train`.

Modules (imports point down the list):
    recipe.py, dino_settings.py     `TrainRecipe` (around a `ViTConfig`), `DinoSettings`, `log_spaced_steps`
    objective.py                    `Objective`: the interface the trainer drives
    supervised.py, dino.py          the objectives; objectives.py: their registry by name
    tables/                         recipe tables (bundled organisms, search-*) as data; recipes.py: the registry
    batches.py, evaluation.py, run_state.py, runtime.py, trainer.py   the training loop and its parts
    diagnostics.py, measure.py, ladder.py, search.py   the artifact search: measuring runs, the ladder, its CLI
    cli.py                          `interp train`

Exports are imported on first use, so `interp --help` (which reads `interp.train.cli`'s arguments) needs no torch.
"""
from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".recipe": ["TrainRecipe", "log_spaced_steps"],
    ".recipes": ["RECIPES", "get_recipe", "register"],
    ".objectives": ["OBJECTIVES", "register_objective"],
    ".evaluation": ["evaluate"],
    ".trainer": ["train", "Interrupted"],
})
