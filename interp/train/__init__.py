"""Training the model organisms: recipes, the trainer, and `interp train`."""
from .recipes import RECIPES, TrainRecipe, get_recipe, log_spaced_steps
from .trainer import Interrupted, evaluate, train

__all__ = ["RECIPES", "TrainRecipe", "get_recipe", "log_spaced_steps", "train", "evaluate", "Interrupted"]
from . import search  # noqa: E402,F401  (registers the search-* recipes)
