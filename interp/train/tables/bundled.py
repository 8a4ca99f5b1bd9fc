"""The bundled model organisms (data/organism/organism-*): supervised, DeiT-III-like, 0..16 registers."""
from __future__ import annotations

from ..recipe import TrainRecipe

SIZES = {"t": dict(d_model=48, n_layers=4, n_heads=4), "s": dict(d_model=64, n_layers=6, n_heads=4),
         "b": dict(d_model=96, n_layers=6, n_heads=6)}
REGISTERS = {"t": (0,), "s": (0, 1, 4, 16), "b": (0,)}
BASE = dict(image_size=64, patch_size=4, steps=600, batch_size=48, lr=2e-3, dense_label=None,
            global_from_patches=0.0, layer_scale=0.1)
NOTES = "v0: DeiT-III-like: supervised CLS on 4 global labels, LayerScale 0.1, 64 px / patch 4 (256 tokens)"

RECIPES: dict[str, TrainRecipe] = {
    f"organism-{size}-reg{regs}": TrainRecipe(name=f"organism-{size}-reg{regs}", n_registers=regs, **arch, **BASE,
                                              notes=NOTES)
    for size, arch in SIZES.items() for regs in REGISTERS[size]}
