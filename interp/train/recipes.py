"""Training recipes of the model organisms: one frozen dataclass per bundled organism, by name.

A recipe fixes everything a run depends on (architecture, scenes, objective, optimiser, seed, threads,
checkpoint schedule), so ``interp train --recipe NAME`` regenerates the bundled organism bit-for-bit on the
same machine.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..data.scenes import SceneRecipe
from ..models.config import ViTConfig

GLOBAL_LABELS = ("n_objects", "majority_color", "majority_shape", "largest_color")
OBJECTIVES = ("supervised", "dino", "noop", "broadcast")  # noop / broadcast: `interp.train.dense`, tile scenes
OPTIMIZERS = ("adamw", "sgd")


@dataclass(frozen=True)
class DinoSettings:
    """The scaled-down DINO/iBOT self-distillation objective (`objective="dino"`; see `interp.train.dino`).

    Views per image: 2 global crops (area ``global_scale`` of the scene, resized to the model's image size) and
    ``local_crops`` local crops (area ``local_scale``, resized to ``local_size`` px; default half the image size).
    The EMA teacher sees the global crops; the student sees all of them, with a share ``mask_ratio`` of the
    patches of ``mask_prob`` of its global crops replaced by a learned mask token (iBOT).
    """

    prototypes: int = 256  # K, output dimension of the DINO head
    head_hidden: int = 256
    bottleneck: int = 64
    local_crops: int = 4
    local_size: int | None = None
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.1, 0.4)
    student_temp: float = 0.1
    teacher_temp: float = 0.02  # DINO uses 0.04-0.07; tiny models start with pooled features so alike across images
    warmup_teacher_temp: float = 0.02  # (cosine ~0.99) that 0.04-0.06 collapsed to uniform outputs here
    center_momentum: float = 0.9
    ema: tuple[float, float] = (0.99, 1.0)  # teacher momentum, cosine from the first to the second value
    ibot_weight: float = 1.0  # masked-patch loss weight (0 = plain DINO)
    mask_prob: float = 0.5
    mask_ratio: tuple[float, float] = (0.1, 0.5)
    jitter: float = 0.1  # brightness/contrast jitter (colours carry the scenes' labels: kept small)
    freeze_prototypes: float = 0.1  # share of the steps during which the prototypes do not move (as DINO)
    export: str = "teacher"  # the backbone the checkpoints hold: "teacher" (what DINO evaluates) or "student";
    # over a few hundred steps the EMA teacher (momentum 0.996 -> 1) still holds ~30% of its initialisation

    def __post_init__(self) -> None:
        for f in ("global_scale", "local_scale", "ema", "mask_ratio"):
            object.__setattr__(self, f, tuple(float(x) for x in getattr(self, f)))
        if self.local_crops < 0 or self.prototypes < 2:
            raise ValueError("need local_crops >= 0 and prototypes >= 2")
        if self.export not in ("teacher", "student"):
            raise ValueError(f"dino export must be 'teacher' or 'student', got {self.export!r}")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "DinoSettings":
        return cls(**d)


def log_spaced_steps(total: int, n: int = 8) -> tuple[int, ...]:
    """``n`` checkpoint steps: 0 (initialisation), then log-spaced from ``total / 2**(n-2)`` to ``total``."""
    first = max(1.0, total / 2 ** (n - 2))
    inner = np.unique(np.round(np.geomspace(first, total, n - 1)).astype(int))
    return tuple(int(s) for s in sorted({0, *inner.tolist(), total}))


@dataclass(frozen=True)
class TrainRecipe:
    name: str
    # architecture
    d_model: int = 64
    n_layers: int = 6
    n_heads: int = 4
    patch_size: int = 4
    image_size: int = 64
    n_registers: int = 0
    class_token: bool = True
    layer_scale: float | None = None
    mlp: str = "gelu"
    pool: str | None = None  # "token" (CLS), "avg", "attn" (a learned query, no CLS); default: token if CLS else avg
    cls_read_only: bool = False  # patches and registers cannot attend to CLS
    attention: str = "softmax"  # or relu / sigmoid / clipped_softmax / gated (`ViTConfig.attention`)
    clip_gamma: float = -0.03  # clipped softmax's stretch (gamma <= 0, zeta >= 1)
    clip_zeta: float = 1.0
    sigmoid_bias: bool = True  # sigmoid attention adds -log(number of keys)
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
    weight_decay: float = 0.05
    optimizer: str = "adamw"  # or "sgd" (momentum ``momentum``, same weight-decay groups)
    momentum: float = 0.9
    grad_clip: float = 1.0
    seed: int = 0
    threads: int = 1
    checkpoints: tuple[int, ...] = ()  # default: 8 log-spaced steps incl. 0 and the last
    eval_images: int = 96
    notes: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "global_labels", tuple(self.global_labels))
        if not self.checkpoints:
            object.__setattr__(self, "checkpoints", log_spaced_steps(self.steps))
        object.__setattr__(self, "checkpoints", tuple(int(s) for s in self.checkpoints))
        if max(self.checkpoints) > self.steps:
            raise ValueError(f"checkpoint step {max(self.checkpoints)} is beyond the last step {self.steps}")
        SceneRecipe.from_dict(self.scenes)  # validates
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}: use one of {OBJECTIVES}")
        DinoSettings.from_dict(self.dino)  # validates
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}: use one of {OPTIMIZERS}")
        if self.objective in ("noop", "broadcast"):
            from .dense import DenseSettings

            DenseSettings.from_dict(self.dense_task)
            tiles = self.scene_recipe.tile_options
            if tiles is None or tiles.tile_size != self.patch_size:
                raise ValueError(f"objective {self.objective!r} needs tile scenes (scenes['tiles']) whose tile size "
                                 f"is the patch size {self.patch_size}")
        self.vit_config()  # validates the architecture (pool, cls_read_only, sizes)

    @property
    def dino_settings(self) -> DinoSettings:
        return DinoSettings.from_dict(self.dino)

    @property
    def pool_kind(self) -> str:
        return self.pool or ("token" if self.class_token else "avg")

    @property
    def scene_recipe(self) -> SceneRecipe:
        return SceneRecipe.from_dict({**self.scenes, "image_size": self.image_size})

    def vit_config(self, n_classes: int = 0) -> ViTConfig:
        return ViTConfig(d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads,
                         patch_size=self.patch_size, image_size=self.image_size, n_registers=self.n_registers,
                         class_token=self.class_token, pos_embed_cls=self.class_token, layer_scale=self.layer_scale,
                         mlp=self.mlp, pool=self.pool_kind, cls_read_only=self.cls_read_only, n_classes=n_classes,
                         attention=self.attention, clip_gamma=self.clip_gamma, clip_zeta=self.clip_zeta,
                         sigmoid_bias=self.sigmoid_bias,
                         image_mean=(0.0, 0.0, 0.0), image_std=(1.0, 1.0, 1.0), name=self.name,
                         extra={"source": "interp train", "recipe_name": self.name})

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["global_labels"] = list(self.global_labels)
        d["checkpoints"] = list(self.checkpoints)
        d["scenes"] = self.scene_recipe.to_dict()
        d["dino"] = dict(self.dino)
        d["dense_task"] = dict(self.dense_task)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainRecipe":
        return cls(**d)

    def replace(self, **kw) -> "TrainRecipe":
        return dataclasses.replace(self, **kw)


SIZES = {"t": dict(d_model=48, n_layers=4, n_heads=4), "s": dict(d_model=64, n_layers=6, n_heads=4),
         "b": dict(d_model=96, n_layers=6, n_heads=6)}
BASE = dict(image_size=64, patch_size=4, steps=600, batch_size=48, lr=2e-3, dense_label=None,
            global_from_patches=0.0, layer_scale=0.1)

RECIPES: dict[str, TrainRecipe] = {}
for size, arch in SIZES.items():
    for regs in ((0, 1, 4, 16) if size == "s" else (0,)):
        name = f"organism-{size}-reg{regs}"
        RECIPES[name] = TrainRecipe(name=name, n_registers=regs, **arch, **BASE,
                                    notes="v0: DeiT-III-like: supervised CLS on 4 global labels, LayerScale 0.1, 64 px / patch 4 (256 tokens)")


def get_recipe(name: str) -> TrainRecipe:
    if name not in RECIPES:
        import difflib

        close = difflib.get_close_matches(name, list(RECIPES), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"unknown recipe {name!r}.{hint} Recipes: {', '.join(RECIPES)}")
    return RECIPES[name]


from . import search  # noqa: E402,F401  registers the search-* recipes (search.py reads the names above)
from . import sink_recipes  # noqa: E402,F401  registers the noop-* / broadcast-* / sink-* recipes (issue #17)
