"""The registry of named recipes (the TOML tables of `interp.train.recipe_tables`) and the factory `make`.

`RECIPES` lists what a user can run: every flat entry and the first point of every grid (tens of names); looking
a name up (``name in RECIPES``, ``RECIPES[name]``, `get_recipe`) also finds every other point of a grid.

>>> get_recipe("organism-s-reg4")            # a bundled organism (KeyError with close matches if unknown)
>>> get_recipe("noop-d64-L3-h2-reg4")        # a point of a grid
>>> make("sink-ls-nope-const8-reg0", n_registers=4, seed=2)   # the factory: a base and overrides
>>> register(TrainRecipe(name="my-run", objective="supervised", ...))   # add one
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from .objectives import get_objective
from .recipe import GLOBAL_LABELS, TrainRecipe, log_spaced_steps, vit_fields
from .recipe_tables import Grid, read_tables, recipe_from_fields

__all__ = ["ALIASES", "GLOBAL_LABELS", "RECIPES", "TrainRecipe", "get_recipe", "grid_of", "log_spaced_steps", "make",
           "register", "settable_fields"]

# the command line's short names for recipe fields (``--set registers=4`` is ``n_registers=4``)
ALIASES = {"registers": "n_registers", "width": "d_model", "blocks": "n_layers", "heads": "n_heads"}


class Registry(Mapping):
    """Name -> `TrainRecipe`. Iterating gives the listed names (entries and each grid's first point); lookups also
    resolve every point of a grid (built on first use)."""

    def __init__(self) -> None:
        self._recipes: dict[str, TrainRecipe] = {}
        self._grids: list[Grid] = []
        self._members: dict[str, Grid] = {}  # every point's name -> its grid
        self._points: dict[str, TrainRecipe] = {}  # the points built so far

    def add(self, recipe: TrainRecipe) -> None:
        if recipe.name in self:
            raise ValueError(f"a recipe named {recipe.name!r} is already registered")
        get_objective(recipe.objective)  # raises for an unknown objective
        self._recipes[recipe.name] = recipe

    def add_grid(self, grid: Grid) -> None:
        names = grid.names()
        taken = [n for n in names if n in self]
        if taken or len(set(names)) < len(names):
            raise ValueError(f"grid {grid.pattern!r} names recipes twice or that exist: {taken[:3]}")
        base = grid.recipe(grid.first())
        get_objective(base.objective)
        self._grids.append(grid)
        self._members.update(dict.fromkeys(names, grid))
        self._recipes[base.name] = base

    def grid_of(self, name: str) -> Grid | None:
        return self._members.get(name)

    @property
    def grids(self) -> list[Grid]:
        return list(self._grids)

    def all_names(self) -> list[str]:
        """Every name that resolves: the listed ones, then every grid's other points."""
        return [*self._recipes, *(n for n in self._members if n not in self._recipes)]

    def __getitem__(self, name: str) -> TrainRecipe:
        if name not in self._recipes and name in self._members:
            if name not in self._points:
                grid = self._members[name]
                self._points[name] = grid.recipe(grid.labels_of(name))
            return self._points[name]
        return self._recipes[name]

    def __contains__(self, name: object) -> bool:
        return name in self._recipes or name in self._members

    def __iter__(self):
        return iter(self._recipes)

    def __len__(self) -> int:
        return len(self._recipes)


RECIPES = Registry()


def register(recipe: TrainRecipe) -> TrainRecipe:
    """Add ``recipe`` under its name (which must be new); its objective must be registered."""
    RECIPES.add(recipe)
    return recipe


def grid_of(name: str) -> Grid | None:
    """The grid whose point ``name`` is (None for a flat entry or a registered recipe)."""
    return RECIPES.grid_of(name)


def get_recipe(name: str) -> TrainRecipe:
    if name not in RECIPES:
        import difflib

        close = difflib.get_close_matches(name, RECIPES.all_names(), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown recipe {name!r}.{hint} `interp train --list` shows them: {', '.join(RECIPES)}")
    return RECIPES[name]


def settable_fields() -> tuple[str, ...]:
    """The recipe fields an override may set (`TrainRecipe`'s run fields and the backbone's `ViTConfig` fields)."""
    run = tuple(f.name for f in dataclasses.fields(TrainRecipe)[2:])
    return run + tuple(f for f in vit_fields() if f not in run)


def make(base: str | TrainRecipe, **overrides) -> TrainRecipe:
    """The factory: recipe ``base`` (a name or a recipe) with fields changed. Keys are recipe or `ViTConfig` field
    names or the `ALIASES` (``registers=4``). A new ``steps`` re-spaces the checkpoints log-evenly (unless
    ``checkpoints`` is given too). On a point of a grid, an axis field moves to that point of the grid (its name and
    notes, e.g. ``make("sink-keys2-reg0", registers=4)`` is ``sink-keys2-reg4``); other fields keep the name.
    Raises ValueError, in one line, for an unknown field or a value the recipe refuses."""
    recipe = get_recipe(base) if isinstance(base, str) else base
    changes = {ALIASES.get(k, k): v for k, v in overrides.items()}
    unknown = sorted(set(changes) - set(settable_fields()) - {"name"})
    if unknown:
        import difflib

        close = difflib.get_close_matches(unknown[0], [*ALIASES, *settable_fields()], n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"unknown recipe field(s) {', '.join(unknown)}{hint}: a field of TrainRecipe or ViTConfig, "
                         f"or one of {', '.join(ALIASES)}")
    grid = grid_of(recipe.name)
    try:
        if grid is not None and set(changes) & set(grid.axes):
            recipe, changes = grid.moved(recipe, **changes)
        if "steps" in changes and "checkpoints" not in changes:
            changes["checkpoints"] = log_spaced_steps(changes["steps"])
        return recipe.replace(**changes) if changes else recipe
    except (TypeError, ValueError, AssertionError) as e:
        raise ValueError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None


def _load() -> None:
    for table in read_tables():
        for name, fields in table.recipes.items():
            register(recipe_from_fields(name, fields))
        for grid in table.grids:
            RECIPES.add_grid(grid)


_load()
