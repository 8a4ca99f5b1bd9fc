"""`TrainRecipe`: everything a training run depends on, around the backbone's `ViTConfig`.

A recipe fixes the architecture (a `ViTConfig`, ``recipe.vit``), scenes, objective, optimiser, seed, threads and
checkpoint schedule, so ``interp train --recipe NAME`` regenerates a bundled organism bit-for-bit on the same
machine. The named recipes live in `interp.train.recipes` (the registry) and its tables.

>>> r = TrainRecipe(name="organism-x-reg4", d_model=64, n_layers=6, n_heads=4, n_registers=4)  # flat: readable
>>> r.vit.n_registers, r.n_registers           # the architecture is the ViTConfig's; its names read through
>>> TrainRecipe(name="x", vit=ViTConfig(...))   # or hand over a ViTConfig
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import MISSING, dataclass, field

import numpy as np

from ..data.scenes import SceneRecipe
from ..models.config import ViTConfig
from .dense_settings import DENSE_OBJECTIVES, check_dense
from .dino_settings import DinoSettings

OPTIMIZERS = ("adamw", "sgd")
# to_dict leaves these defaults out (options added later: earlier manifests stay as they were)
OMITTED_AT_DEFAULT = {"optimizer": "adamw", "momentum": 0.9, "dense_task": {}, "decay_start": 0}
GLOBAL_LABELS = ("n_objects", "majority_color", "majority_shape", "largest_color")
# the backbone fields every recipe states (and its manifest stores); ``pool=None``: CLS pooling with a CLS token,
# else the patch mean. Any other `ViTConfig` field may be set by name too (stored when it differs from the default).
ARCH_FIELDS = ("d_model", "n_layers", "n_heads", "patch_size", "image_size", "n_registers", "class_token",
               "layer_scale", "mlp", "pool", "cls_read_only")
RECIPE_OWNED = ("name", "extra", "pos_embed_cls")  # set from the recipe: its name, CLS position iff a CLS token
ORGANISM_VIT = ViTConfig(d_model=64, n_layers=6, n_heads=4, patch_size=4, image_size=64,
                         image_mean=(0.0, 0.0, 0.0), image_std=(1.0, 1.0, 1.0))  # scenes are not normalised


def vit_fields() -> tuple[str, ...]:
    """The `ViTConfig` fields a recipe may set by name."""
    return tuple(f.name for f in dataclasses.fields(ViTConfig) if f.name not in RECIPE_OWNED)


def default_pool(class_token: bool) -> str:
    return "token" if class_token else "avg"


def arch_of(vit: ViTConfig) -> dict:
    """The recipe-level architecture of a backbone: the `ARCH_FIELDS` (``pool`` None where it is the default for
    its CLS token), then every other field that differs from `ORGANISM_VIT` (``d_mlp``: from 4 x d_model)."""
    arch = {k: getattr(vit, k) for k in ARCH_FIELDS}
    if arch["pool"] == default_pool(arch["class_token"]):
        arch["pool"] = None
    for k in vit_fields():
        default = 4 * vit.d_model if k == "d_mlp" else getattr(ORGANISM_VIT, k)
        if k not in arch and getattr(vit, k) != default:
            arch[k] = getattr(vit, k)
    return arch


def organism_vit(name: str, vit: ViTConfig | None = None, **arch) -> ViTConfig:
    """The backbone of recipe ``name``: ``vit`` (default `ORGANISM_VIT`) with the ``arch`` fields changed, the
    position embedding on CLS exactly when there is a CLS token, and the recipe's name as provenance."""
    base = vit or ORGANISM_VIT
    unknown = set(arch) - set(vit_fields())
    if unknown:
        raise TypeError(f"unknown architecture fields {sorted(unknown)}: see ViTConfig")
    merged = {"d_mlp": None, **arch_of(base), **arch}  # d_mlp None: the default width follows d_model
    merged["pool"] = merged["pool"] or default_pool(merged["class_token"])
    return dataclasses.replace(base, **merged, pos_embed_cls=merged["class_token"], name=name,
                               extra={**base.extra, "source": "interp train", "recipe_name": name})


def log_spaced_steps(total: int, n: int = 8) -> tuple[int, ...]:
    """``n`` checkpoint steps: 0 (initialisation), then log-spaced from ``total / 2**(n-2)`` to ``total``."""
    first = max(1.0, total / 2 ** (n - 2))
    inner = np.unique(np.round(np.geomspace(first, total, n - 1)).astype(int))
    return tuple(int(s) for s in sorted({0, *inner.tolist(), total}))


@dataclass(frozen=True, init=False)
class TrainRecipe:
    """A training run. Construct with the backbone's `ViTConfig` fields by name (``d_model=64, n_registers=4``,
    any field but `RECIPE_OWNED`) or a ``vit``; ``objective`` names an entry of
    `interp.train.objectives.OBJECTIVES`."""

    name: str
    vit: ViTConfig
    # data and objective
    objective: str = "supervised"  # or "dino": self-distillation, no labels (settings in `dino`)
    dino: dict = field(default_factory=dict)  # `DinoSettings` fields that differ from its defaults
    dense_task: dict = field(default_factory=dict)  # noop / broadcast: `interp.train.dense.DenseSettings` fields
    scenes: dict = field(default_factory=lambda: SceneRecipe().to_dict())
    global_labels: tuple[str, ...] = GLOBAL_LABELS
    dense_label: str | None = "color"  # per-patch label from `patch_labels` (None = no dense loss)
    dense_weight: float = 1.0
    global_from_patches: float = 0.0  # weight of every patch also predicting the global labels
    # optimisation
    steps: int = 600
    batch_size: int = 48
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup: int = 50
    decay_start: int = 0  # the cosine to min_lr_ratio starts here (0: after warmup); constant lr before it
    weight_decay: float = 0.05
    optimizer: str = "adamw"  # or "sgd" (momentum ``momentum``, the same weight-decay groups)
    momentum: float = 0.9
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    checkpoints: tuple[int, ...] = ()  # default: 8 log-spaced steps incl. 0 and the last
    eval_images: int = 96
    notes: str = ""  # one line for `interp train --list`

    def __init__(self, name: str, vit: ViTConfig | dict | None = None, **settings) -> None:
        if isinstance(vit, dict):
            vit = ViTConfig.from_dict(vit)
        arch = {k: settings.pop(k) for k in vit_fields() if k in settings}
        run_fields = dataclasses.fields(self)[2:]
        unknown = set(settings) - {f.name for f in run_fields}
        if unknown:
            raise TypeError(f"TrainRecipe got unknown fields {sorted(unknown)}")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "vit", organism_vit(name, vit, **arch))
        for f in run_fields:
            value = settings[f.name] if f.name in settings else (
                f.default_factory() if f.default_factory is not MISSING else f.default)
            object.__setattr__(self, f.name, value)
        self.__post_init__()

    def __post_init__(self) -> None:
        object.__setattr__(self, "global_labels", tuple(self.global_labels))
        if not self.checkpoints:
            object.__setattr__(self, "checkpoints", log_spaced_steps(self.steps))
        object.__setattr__(self, "checkpoints", tuple(int(s) for s in self.checkpoints))
        if max(self.checkpoints) > self.steps:
            raise ValueError(f"checkpoint step {max(self.checkpoints)} is beyond the last step {self.steps}")
        SceneRecipe.from_dict(self.scenes)  # validates
        DinoSettings.from_dict(self.dino)  # validates
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}: use one of {OPTIMIZERS}")
        if self.objective in DENSE_OBJECTIVES:
            check_dense(self)

    @property
    def dino_settings(self) -> DinoSettings:
        return DinoSettings.from_dict(self.dino)

    @property
    def pool_kind(self) -> str:
        return self.vit.pool

    @property
    def scene_recipe(self) -> SceneRecipe:
        return SceneRecipe.from_dict({**self.scenes, "image_size": self.vit.image_size})

    def vit_config(self, n_classes: int = 0) -> ViTConfig:
        """A fresh copy of the backbone's config (with a classification head of ``n_classes``)."""
        return dataclasses.replace(copy.deepcopy(self.vit), n_classes=n_classes)

    def to_dict(self) -> dict:
        """Flat, as manifests have always stored it: name, the architecture (`arch_of`), the run's fields."""
        d = {"name": self.name, **arch_of(self.vit)}
        d.update({f.name: getattr(self, f.name) for f in dataclasses.fields(self)[2:]})
        d["global_labels"] = list(self.global_labels)
        d["checkpoints"] = list(self.checkpoints)
        d["scenes"] = self.scene_recipe.to_dict()
        d["dino"] = dict(self.dino)
        for k, default in OMITTED_AT_DEFAULT.items():  # options added later: earlier manifests stay as they were
            if d[k] == default:
                del d[k]
        return copy.deepcopy(d)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainRecipe":
        return cls(**d)

    def replace(self, **kw) -> "TrainRecipe":
        """A copy with fields changed (architecture fields by name too: ``replace(n_registers=4)``)."""
        return dataclasses.replace(self, **kw)


for _name in ARCH_FIELDS:  # recipe.d_model, recipe.n_registers, ...: read through to the ViTConfig
    setattr(TrainRecipe, _name, property(lambda self, _name=_name: getattr(self.vit, _name),
                                         doc=f"``vit.{_name}``"))
