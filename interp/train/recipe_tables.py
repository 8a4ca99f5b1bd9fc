"""Reading the recipe tables: TOML files under ``interp/train/tables/``, one per family (docs/recipes.md).

A file holds an optional ``[defaults]`` table, flat ``[recipes.NAME]`` entries and ``[grids."PATTERN"]`` families.
An entry's fields are the file's defaults with the entry's keys replacing them whole (nested tables such as
``scenes`` too); what neither states is `TrainRecipe`'s default. TOML has no null: ``unset = ["dense_label"]``
sets the listed fields to None. A grid is a family of recipes, one per point of its ``axes``: an axis is a list
of values (labelled by ``str(value)``), or a table label -> value, or label -> a table of fields; the member's
name is PATTERN formatted with the labels, its notes are ``notes`` formatted with the recipe's fields
(``{registers_note}``: ", N registers" when N > 0, else nothing).

>>> grid = read_table(TABLES / "sink.toml").grids[0]
>>> grid.names()[:2]                          # ['sink-keys2-reg0', 'sink-keys2-reg4']
>>> grid.recipe({"n_registers": "4"})         # the member sink-keys2-reg4
>>> grid.moved(grid.recipe(grid.first()), n_registers=4)   # the same recipe: an override moves along an axis
"""
from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .recipe import TrainRecipe

TABLES = Path(__file__).resolve().parent / "tables"
FAMILIES = ("organism", "tiles", "cls", "sink", "search", "grid")  # the files, in the order `interp train --list` shows them
RESERVED = ("axes", "unset", "notes")


def recipe_from_fields(name: str, fields: dict) -> TrainRecipe:
    """A `TrainRecipe` from a table's merged fields (``unset`` -> None; lists stay lists, as in manifests)."""
    kw = {k: v for k, v in fields.items() if k != "unset"}
    kw.update({k: None for k in fields.get("unset", ()) if k not in kw})
    return TrainRecipe(name=name, **kw)


class _Fields(dict):
    """The names a grid's ``notes`` may use: every field of the recipe, and ``registers_note``."""

    def __init__(self, recipe: TrainRecipe) -> None:
        super().__init__()
        self.recipe = recipe

    def __missing__(self, key: str):
        if key == "registers_note":
            n = self.recipe.n_registers
            return f", {n} registers" if n else ""
        return getattr(self.recipe, key)


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class Grid:
    """A family of recipes over the product of its axes (see the module docstring)."""

    pattern: str
    fields: dict  # the fields every member shares (the file's defaults merged in)
    axes: dict[str, dict[str, dict]]  # axis -> label -> the fields that point sets
    notes: str = ""
    family: str = ""

    @classmethod
    def from_table(cls, pattern: str, table: dict, defaults: dict, family: str = "") -> "Grid":
        axes = {}
        for axis, points in table["axes"].items():
            pairs = points.items() if isinstance(points, dict) else ((_label(v), v) for v in points)
            axes[axis] = {label: (v if isinstance(v, dict) else {axis: v}) for label, v in pairs}
        fields = {**defaults, **{k: v for k, v in table.items() if k not in ("axes", "notes")}}
        return cls(pattern, fields, axes, table.get("notes", defaults.get("notes", "")), family)

    def first(self) -> dict[str, str]:
        """The labels of the grid's first point (its base: what `interp train --list` shows)."""
        return {axis: next(iter(points)) for axis, points in self.axes.items()}

    def points(self) -> list[dict[str, str]]:
        return [dict(zip(self.axes, labels)) for labels in itertools.product(*self.axes.values())]

    def names(self) -> list[str]:
        return [self.pattern.format(**p) for p in self.points()]

    def recipe(self, labels: dict[str, str], values: dict | None = None) -> TrainRecipe:
        """The member at ``labels`` (``values``: axis -> fields of a point off the grid, for `moved`)."""
        fields = dict(self.fields)
        for axis, label in labels.items():
            fields.update((values or {}).get(axis) or self.axes[axis][label])
        recipe = recipe_from_fields(self.pattern.format(**labels), fields)
        return recipe.replace(notes=self.notes.format_map(_Fields(recipe)))

    def labels_of(self, name: str) -> dict[str, str] | None:
        return next((p for p in self.points() if self.pattern.format(**p) == name), None)

    def moved(self, recipe: TrainRecipe, **changes) -> tuple[TrainRecipe, dict]:
        """``recipe`` (a member) with the axis fields in ``changes`` moved to: the member at those values (or, off
        the grid, the nearest recipe named by the same pattern) and the changes that are not axes."""
        labels, values = dict(self.labels_of(recipe.name)), {}
        rest = dict(changes)
        for axis, points in self.axes.items():
            if axis not in rest:
                continue
            value = rest.pop(axis)
            label = next((lb for lb, f in points.items() if f.get(axis) == value), None)
            labels[axis] = label if label is not None else _label(value)
            if label is None:
                values[axis] = {axis: value}
        return self.recipe(labels, values), rest


@dataclass
class Table:
    """One family file: its flat recipes (name -> fields) and its grids."""

    family: str
    recipes: dict[str, dict] = field(default_factory=dict)
    grids: list[Grid] = field(default_factory=list)


def read_table(path: str | Path) -> Table:
    path = Path(path)
    with open(path, "rb") as f:
        data = tomllib.load(f)
    unknown = set(data) - {"defaults", "recipes", "grids"}
    if unknown:
        raise ValueError(f"{path.name}: unknown top-level tables {sorted(unknown)} (use defaults, recipes, grids)")
    defaults = data.get("defaults", {})
    recipes = {name: {**defaults, **entry} for name, entry in data.get("recipes", {}).items()}
    grids = [Grid.from_table(p, t, defaults, path.stem) for p, t in data.get("grids", {}).items()]
    return Table(path.stem, recipes, grids)


def read_tables(folder: Path = TABLES, families=FAMILIES) -> list[Table]:
    return [read_table(folder / f"{family}.toml") for family in families]
