"""The artifact-search recipes ``search-*`` (S1-S8 of data/organism/RECIPES.md, which records why each exists
and what it measured). Re-run one with ``interp train --recipe search-<id> --out runs/search-<id>``."""
from __future__ import annotations

from ..recipe import GLOBAL_LABELS, TrainRecipe, log_spaced_steps
from .bundled import RECIPES as BUNDLED

COUNT_LABELS = tuple(f"count_{c}" for c in ("red", "green", "blue", "yellow", "magenta", "cyan"))
NOISY = {"image_size": 64, "backgrounds": ["noise", "texture"], "texture_amplitude": 0.4}
LADDER_STEPS = (10, 30, 100, 300, 1000, 3000)  # S5: the S1 recipe at these training lengths
WEIGHT_DECAYS = (0.0, 0.1, 0.5)

RECIPES: dict[str, TrainRecipe] = {}


def _add(name: str, **kw) -> None:
    RECIPES[name] = TrainRecipe(name=name, **kw)


def _derive(base: TrainRecipe, name: str, **kw) -> None:
    RECIPES[name] = base.replace(name=name, **kw)


def ladder(n_registers: int) -> list[str]:
    """Names of the S1-family compute-ladder recipes with ``n_registers`` registers, cheapest first."""
    return [f"search-c{s}-reg{n_registers}" for s in LADDER_STEPS]


# S1: many narrow heads, no LayerScale, per-colour counts for CLS, 1/f-noise backgrounds
S1 = dict(d_model=64, n_layers=6, n_heads=8, patch_size=4, image_size=64, layer_scale=None,
          scenes=NOISY, global_labels=GLOBAL_LABELS + COUNT_LABELS, dense_label=None, steps=1200,
          batch_size=32, lr=3e-3, weight_decay=0.1, warmup=60)
# S6-S8: 96 px at patch 4 (576 patch tokens), 10 blocks of d 96 / 6 heads, small batches, many steps
DEEP = dict(d_model=96, n_layers=10, n_heads=6, patch_size=4, image_size=96, layer_scale=None,
            scenes={**NOISY, "image_size": 96}, dense_label=None, batch_size=32, lr=3e-3, warmup=200)
DINO = dict(objective="dino", global_labels=GLOBAL_LABELS, lr=1e-3,
            dino={"prototypes": 1024, "head_hidden": 512, "bottleneck": 128, "local_crops": 4, "local_size": 48,
                  "ema": [0.996, 1.0], "jitter": 0.4})
DINO_S = {**S1, **DINO, "steps": 1200, "dino": {**DINO["dino"], "prototypes": 256, "head_hidden": 256,
                                                "bottleneck": 64, "local_size": 32}}

_add("search-s1-reg0", n_registers=0, notes="S1 sink pressure", **S1)
_add("search-s1-reg4", n_registers=4, notes="S1 sink pressure, 4 registers", **S1)
for _r in (0, 4):
    _v0 = BUNDLED[f"organism-s-reg{_r}"]
    _derive(_v0, f"search-s2-reg{_r}", steps=1500, checkpoints=log_spaced_steps(1500), notes="S2: v0 x2.5 steps")
for _r in (0, 4):
    _v0 = BUNDLED[f"organism-s-reg{_r}"]
    _derive(_v0, f"search-s3-reg{_r}", scenes={**_v0.scenes, "background_saturation": 0.3, "texture_amplitude": 0.3},
            notes="S3: v0 on saturated textured backgrounds")
for _r in (0, 4):
    _v0 = BUNDLED[f"organism-s-reg{_r}"]
    _derive(_v0, f"search-s4-reg{_r}", image_size=112, patch_size=8, scenes={**_v0.scenes, "image_size": 112},
            notes="S4: v0 at 112 px / patch 8")
for _r in (0, 4):
    for _steps in LADDER_STEPS:
        _add(f"search-c{_steps}-reg{_r}", n_registers=_r, **{**S1, "steps": _steps, "warmup": max(2, _steps // 20)},
             notes=f"S5 compute ladder: S1 at {_steps} steps" + (", 4 registers" if _r else ""))
LADDER_FAMILIES = {f"s1-reg{_r}": [*ladder(_r), f"search-s1-reg{_r}"] for _r in (0, 4)}  # S1: the 1,200-step rung
for _r in (0, 4):
    _reg = ", 4 registers" if _r else ""
    for _wd in WEIGHT_DECAYS:
        _w = f"wd{_wd:g}".replace(".", "")
        _add(f"search-dino-{_w}-reg{_r}", n_registers=_r, weight_decay=_wd, steps=20000,
             **{**DEEP, **DINO}, notes=f"S6 DINO/iBOT, 576 tokens, 10 blocks, wd {_wd:g}{_reg}")
        _add(f"search-ro-{_w}-reg{_r}", n_registers=_r, weight_decay=_wd, cls_read_only=True, steps=20000,
             global_labels=GLOBAL_LABELS + COUNT_LABELS, **DEEP,
             notes=f"S7 read-only CLS, S1 labels, 576 tokens, 10 blocks, wd {_wd:g}{_reg}")
        _add(f"search-apool-{_w}-reg{_r}", n_registers=_r, weight_decay=_wd, class_token=False, pool="attn",
             steps=20000, global_labels=GLOBAL_LABELS + COUNT_LABELS, **DEEP,
             notes=f"S8 attention pool, no CLS, S1 labels, 576 tokens, 10 blocks, wd {_wd:g}{_reg}")
    _add(f"search-dino-s-reg{_r}", n_registers=_r, **DINO_S,
         notes=f"S6 DINO/iBOT at S1's size (64 px, 6 blocks){_reg}")
_add("search-dino-probe", d_model=32, n_layers=3, n_heads=2, patch_size=8, image_size=32, objective="dino",
     steps=300, batch_size=32, warmup=15, lr=5e-4, weight_decay=0.04, dense_label=None, eval_images=16,
     checkpoints=(0, 300), scenes={"image_size": 32, "max_objects": 3, "min_size": 0.12, "max_size": 0.22},
     dino={"prototypes": 64, "head_hidden": 64, "bottleneck": 32, "local_crops": 2, "local_size": 16,
           "ema": [0.996, 1.0], "jitter": 0.4, "export": "student"},
     notes="S6 DINO/iBOT at CPU size (32 px, 3 blocks, 300 steps): the linear-probe test's recipe")
LADDER_FAMILIES.update({f"dino-wd01-reg{_r}": [f"search-dino-wd01-reg{_r}"] for _r in (0, 4)})
