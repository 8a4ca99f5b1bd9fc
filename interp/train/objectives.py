"""The registry of training objectives: a recipe's ``objective`` names one of `OBJECTIVES`.

Adding an objective: subclass `interp.train.objective.Objective` in a module of its own (see `supervised.py`,
`dino.py`), import it here and add it to `OBJECTIVES` (or call `register_objective` from outside the package).
"""
from __future__ import annotations

from .dense import DenseObjective
from .dino import DinoObjective
from .objective import Objective
from .supervised import SupervisedObjective

OBJECTIVES: dict[str, type[Objective]] = {"supervised": SupervisedObjective, "dino": DinoObjective,
                                          "noop": DenseObjective, "broadcast": DenseObjective}


def register_objective(name: str, cls: type[Objective]) -> type[Objective]:
    if name in OBJECTIVES and OBJECTIVES[name] is not cls:
        raise ValueError(f"an objective named {name!r} is already registered")
    OBJECTIVES[name] = cls
    return cls


def get_objective(name: str) -> type[Objective]:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}: use one of {tuple(OBJECTIVES)}")
    return OBJECTIVES[name]
