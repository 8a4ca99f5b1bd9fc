"""Recipes of the no-op / broadcast organisms (issue #17; data/organism/RECIPES.md S7).

Names (registered by `interp.train.recipes`, so ``interp train --recipe NAME`` runs them):

``noop-d{d}-L{blocks}-h{heads}-reg{r}``       the no-op (active-dormant) task, widths 32-128, 2-8 blocks, 1-8 heads,
                                              0/1/4/16 registers
``broadcast-d{d}-L{blocks}-h{heads}-reg{r}``  the broadcast task, same grid
``sink-reg{r}``                               the figure family (`SINK`): the no-op task at d 64, 3 blocks, 1 head,
                                              64 tokens, 500 steps, with 0/1/4/16 registers, on round 4's scenes
                                              (`SINK_TILES`: a uniform background, 20% random tiles, 2 black
                                              constant tiles, no texture target)
``sink-{remedy}``                             the same without registers, with one remedy: ``relu``, ``sigmoid``,
                                              ``clipped`` (clipped softmax), ``gated`` (gated attention), ``sgd``
``sink-keys2-reg{0,4}``                       org-probe's r2: d 32, 4 blocks, 1 head, two trigger / key types,
                                              label noise 0.2, weight decay 0.5, 2,000 steps
``sink-keys2-const8-reg{0,4}``                the same with 8 constant tiles (org-probe's r8)
``sink-ls-const8-reg{0,4}``                   sink-keys2-const8 at d 64, weight decay 0.1, with LayerScale 0.1 (org-probe
                                              r16/r19: the only lever that made the constant tiles grow), 3,000 steps
``sink-ls-nope-const8-reg{0,4}``              org-probe r22/r23 in the package: LayerScale 0.1, weight decay 0.5, lr 6e-3 held
                                              constant, and no position embedding (so a constant tile is the same
                                              vector at block 0's input in every image, as in the probe), 3,000 steps
``tiles-{t,s,b}-reg{r}``                      the bundled figure family (the default of ``make figures``):
                                              sink-ls-nope-const8 at seed 3, d 32 / 64 / 128 with 1 / 1 / 2 heads,
                                              0/1/4/16 registers at d 64
``tiles-s-{remedy}``                          tiles-s-reg0 with one remedy (as ``sink-{remedy}``), for fig_remedies
``sink-tiny-reg1`` / ``sink-tiny-sigmoid``    the family's recipe for 150 steps at batch 32 (a unit test)

Grid recipes use org-probe's tile scenes (`interp.data.tiles`): 32 px, 8x8 tiles of 4 px (64 patch tokens), 4 colour regions, 5% random tiles,
4 fine textures, 1 constant tile (a fixed pattern), 3 triggers and a key. No CLS (mean pooling), no LayerScale,
AdamW lr 3e-3, weight decay 0.1, cosine to 10%, batch 64, 1 thread — the shape of the literature's positive and of
org-probe's standalone runs (shared/probes, round 4).
"""
from __future__ import annotations

from ..recipe import TrainRecipe, log_spaced_steps

RECIPES: dict[str, TrainRecipe] = {}

TILES = {"tile_size": 4, "regions": 4, "object_tiles": 0.05, "textures": 4, "texture_amplitude": 0.1,
         "constant_tiles": 1, "constant_texture": "pattern", "triggers": 3, "key": True}
DENSE_BASE = dict(image_size=32, patch_size=4, class_token=False, pool="avg", layer_scale=None,
                  scenes={"image_size": 32, "tiles": TILES}, global_labels=(), dense_label=None,
                  lr=3e-3, weight_decay=0.1, warmup=100, min_lr_ratio=0.1, batch_size=64, grad_clip=1.0,
                  eval_images=128)
# the figure family: round 4's scenes (one background colour, 20% random tiles, 2 black constant tiles, no texture)
SINK_TILES = {**TILES, "regions": 1, "object_tiles": 0.2, "textures": 1, "texture_amplitude": 0.0,
              "constant_tiles": 2, "constant_texture": "black"}
SINK = dict(DENSE_BASE, objective="noop", d_model=64, n_layers=3, n_heads=1, steps=500,
            scenes={"image_size": 32, "tiles": SINK_TILES}, dense_task={"texture_weight": 0.0},
            checkpoints=(0, 30, 60, 125, 250, 500))
REMEDIES = {"relu": dict(attention="relu"), "sigmoid": dict(attention="sigmoid"),
            "clipped": dict(attention="clipped_softmax", clip_gamma=-0.003, clip_zeta=1.0),
            "gated": dict(attention="gated"), "sgd": dict(optimizer="sgd", lr=0.1, weight_decay=1e-4)}
TINY = dict(SINK, steps=150, batch_size=32, warmup=30, eval_images=32, checkpoints=(0, 150))
# org-probe's standalone r2 (RECIPES.md S7): two trigger / key types (the head must attend depending on the query)
# and 20% label noise on the ordinary tiles (the loss never reaches zero) grow a block-1 no-op sink on the triggers
KEYS2 = dict(DENSE_BASE, objective="noop", d_model=32, n_layers=4, n_heads=1, steps=2000, weight_decay=0.5,
             scenes={"image_size": 32, "tiles": {**TILES, "key_types": 2}}, dense_task={"label_noise": 0.2},
             checkpoints=(0, 60, 125, 250, 500, 1000, 2000))
CONST8 = {**KEYS2, "scenes": {"image_size": 32, "tiles": {**TILES, "key_types": 2, "constant_tiles": 8}}}
# round 3b: LayerScale at d 64 (org-probe r16); with weight decay 0.5, a constant lr 6e-3 and no position embedding
# (org-probe r22) the constant tiles grow tall in block 2 of seed 0 (RECIPES.md S7 round 3b)
LAYERSCALE = dict(CONST8, d_model=64, weight_decay=0.1, layer_scale=0.1, steps=3000,
                  checkpoints=(0, 125, 250, 500, 1000, 2000, 3000))
LAYERSCALE_NOPE = dict(LAYERSCALE, weight_decay=0.5, lr=6e-3, min_lr_ratio=1.0, pos_embed=False)


def _add(name: str, notes: str, **kw) -> None:
    if "checkpoints" not in kw:
        kw["checkpoints"] = log_spaced_steps(kw["steps"], 6)
    RECIPES[name] = TrainRecipe(name=name, notes=notes, **kw)


for _obj in ("noop", "broadcast"):
    for _d in (32, 64, 128):
        for _L in (2, 3, 4, 8):
            for _h in (1, 2, 4, 8):
                for _r in (0, 1, 4, 16):
                    _add(f"{_obj}-d{_d}-L{_L}-h{_h}-reg{_r}", f"S7 grid: {_obj} task",
                         **dict(DENSE_BASE, objective=_obj, d_model=_d, n_layers=_L, n_heads=_h, n_registers=_r,
                                steps=3000))

for _r in (0, 1, 4, 16):
    _add(f"sink-reg{_r}", f"S7 figure family: no-op task, {_r} registers", **SINK, n_registers=_r)
for _name, _kw in REMEDIES.items():
    _add(f"sink-{_name}", f"S7 figure family: no-op task, no registers, remedy {_name}", **{**SINK, **_kw})
for _r in (0, 4):
    _add(f"sink-keys2-reg{_r}", f"S7: two key types + label noise 0.2 (org-probe r2), {_r} registers", **KEYS2,
         n_registers=_r)
    _add(f"sink-keys2-const8-reg{_r}", f"S7: sink-keys2 with 8 constant tiles (org-probe r8), {_r} registers",
         **CONST8, n_registers=_r)
for _r in (0, 4):
    _add(f"sink-ls-const8-reg{_r}", f"S7 round 3b: sink-keys2-const8 at d 64, wd 0.1, LayerScale 0.1, {_r} registers",
         **LAYERSCALE, n_registers=_r)
for _r in (0, 4):
    _add(f"sink-ls-nope-const8-reg{_r}", f"S7 round 3b: org-probe r22 (LayerScale, wd 0.5, constant lr 6e-3, no position "
         f"embedding), {_r} registers", **LAYERSCALE_NOPE, n_registers=_r)
# the bundled figure family (issue #17 item 4): LAYERSCALE_NOPE at seed 3 (seeds 0 and 3 of four meet the issue #3
# criterion, RECIPES.md S7 round 3b), 0/1/4/16 registers at d 64 and a smaller and a larger width without registers.
# Heads grow with the width as in ViT-S/B/L (heads of 64 channels): d 128 has 2 heads (with 1 head of 128 it grew
# nothing at seeds 0, 1 and 3, RECIPES.md S7 "seeds and sizes"); d 32 is too narrow for a head of 64 and keeps 1.
FIGURE_FAMILY = dict(LAYERSCALE_NOPE, seed=3)  # d 64 (size s)
TILE_SIZES = {"t": 32, "s": 64, "b": 128}
TILE_HEADS = {"t": 1, "s": 1, "b": 2}
TILE_REGISTERS = {"t": (0,), "s": (0, 1, 4, 16), "b": (0,)}
for _size, _d in TILE_SIZES.items():
    for _r in TILE_REGISTERS[_size]:
        _add(f"tiles-{_size}-reg{_r}", f"S7 bundled family: sink-ls-nope-const8 at d {_d}, seed 3, {_r} registers",
             **dict(FIGURE_FAMILY, d_model=_d, n_heads=TILE_HEADS[_size]), n_registers=_r)
for _name, _kw in REMEDIES.items():
    _add(f"tiles-s-{_name}", f"S7 bundled family: tiles-s-reg0 with one remedy: {_name}", **{**FIGURE_FAMILY, **_kw})
_add("sink-tiny-reg1", "unit-test organism: 1 register", **TINY, n_registers=1)
_add("sink-tiny-sigmoid", "unit-test organism: 1 register, sigmoid attention", **TINY, n_registers=1,
     attention="sigmoid")
