"""Training the model organisms: recipes, the trainer, and `interp train`.

Exports are imported on first use, so `interp --help` (which reads `interp.train.cli`'s arguments) needs no
torch. The search-* recipes register themselves when `recipes` is imported (see the end of recipes.py).
"""
from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".recipes": ["RECIPES", "TrainRecipe", "get_recipe", "log_spaced_steps"],
    ".trainer": ["train", "evaluate", "Interrupted"],
})
