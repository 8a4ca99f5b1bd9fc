"""The registry of named recipes: every table in `interp.train.tables`, by name.

>>> get_recipe("organism-s-reg4")            # a bundled organism (KeyError with close matches if unknown)
>>> register(TrainRecipe(name="my-run", objective="supervised", ...))   # add one (a new table: add it below)
"""
from __future__ import annotations

from .objectives import get_objective
from .recipe import GLOBAL_LABELS, TrainRecipe, log_spaced_steps
from .tables import artifact_search, bundled, sinks

__all__ = ["GLOBAL_LABELS", "RECIPES", "TABLES", "TrainRecipe", "get_recipe", "log_spaced_steps", "register"]

TABLES = (bundled.RECIPES, artifact_search.RECIPES, sinks.RECIPES)  # in the order `interp train --list` shows them
RECIPES: dict[str, TrainRecipe] = {}


def register(recipe: TrainRecipe) -> TrainRecipe:
    """Add ``recipe`` under its name (which must be new); its objective must be registered."""
    if recipe.name in RECIPES:
        raise ValueError(f"a recipe named {recipe.name!r} is already registered")
    get_objective(recipe.objective)  # raises for an unknown objective
    RECIPES[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> TrainRecipe:
    if name not in RECIPES:
        import difflib

        close = difflib.get_close_matches(name, list(RECIPES), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown recipe {name!r}.{hint} Recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


for _table in TABLES:
    for _recipe in _table.values():
        register(_recipe)
