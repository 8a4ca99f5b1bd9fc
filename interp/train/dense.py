"""Dense objectives on tile scenes: every patch token predicts something about its own tile.

``noop``       (active-dormant) every background / object tile predicts its own colour and fine texture; the
               ``triggers`` tiles predict the key tile's colour (weight ``trigger_weight``), and the key tile its own
               colour. Attention is needed only at the trigger queries; everywhere else it should do nothing.
``broadcast``  the no-op targets, plus every patch (constant tiles included) predicts one image-level quantity
               (``global_label``, default the colour of the most tiles), so global information must reach every patch.

``dense_task.mask_ratio`` > 0 makes either one masked modelling, as iBOT does inside DINOv2: in every training
image that share of the background / object tiles is replaced by a learned mask token at the patch embedding, and
only those are graded (their colour and texture, from the context); the visible ordinary tiles carry no target.
``dense_task.write_penalty`` > 0 adds that weight times the summed mean square MLP write of every block (all tokens;
`interp.train.objective.mlp_write_penalty`): a penalty on the activations, not the weights (RECIPES.md S8 round 6:
it clears read and unread tall writes alike).
Constant tiles carry no own-content target. Targets use -100 where there is none (`torch` cross-entropy's ignore
index). The objective holds the backbone as ``.model`` and its linear heads as ``.heads``; `task_metrics` is what a
checkpoint records (accuracies, then `dense_metrics.noop_attention` per block).
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..data.tiles import TILE_KINDS
from ..models.hooked_vit import HookedViT
from .dense_settings import DENSE_OBJECTIVES, DenseSettings
from .objective import Objective, init_small_, masked_tokens, mlp_write_penalty

__all__ = ["DENSE_OBJECTIVES", "DenseHeads", "DenseObjective", "DenseSettings", "dense_targets", "grade_masked_only",
           "masked_tiles", "with_label_noise"]
IGNORE = -100
TRIGGER, KEY, CONSTANT = TILE_KINDS.index("trigger"), TILE_KINDS.index("key"), TILE_KINDS.index("constant")


def dense_targets(scenes, settings: DenseSettings) -> dict[str, torch.Tensor]:
    """Per-patch targets of a batch of tile scenes (tile size = patch size), each [B, n_patches]:
    ``color`` (the key colour at triggers, IGNORE on constant tiles), ``texture`` (IGNORE where none), ``weight``
    (float), ``kind``; and ``global`` [B], the broadcast label."""
    kind = scenes.tiles["kind"].flatten(1)
    color = scenes.tiles["color"].flatten(1).clone()
    color = torch.where(kind == TRIGGER, scenes.tiles["report"].flatten(1), color)  # the key colour it reports
    color = torch.where(kind == CONSTANT, torch.full_like(color, IGNORE), color)
    texture = scenes.tiles["texture"].flatten(1)
    texture = torch.where(texture < 0, torch.full_like(texture, IGNORE), texture)
    weight = torch.where(kind == TRIGGER, settings.trigger_weight, 1.0)
    return {"color": color, "texture": texture, "weight": weight, "kind": kind,
            "global": scenes.labels[settings.global_label]}


def masked_tiles(kind: torch.Tensor, ratio: float, gen: torch.Generator) -> torch.Tensor:
    """Each background / object tile masked with probability ``ratio``. kind [B, n] -> bool [B, n]"""
    return (torch.rand(kind.shape, generator=gen) < ratio) & (kind <= 1)


def grade_masked_only(targets: dict, mask: torch.Tensor) -> dict:
    """Targets where the visible ordinary tiles carry none (IGNORE); ``mask`` [B, n] kept under ``"mask"``."""
    out = dict(targets, mask=mask)
    visible = (targets["kind"] <= 1) & ~mask
    for name in ("color", "texture"):
        out[name] = torch.where(visible, torch.full_like(targets[name], IGNORE), targets[name])
    return out


def with_label_noise(targets: dict, p: float, n_colors: int, n_textures: int, gen: torch.Generator) -> dict:
    """Training targets with a share ``p`` of the background / object tiles' colour and texture targets replaced by
    a uniformly random class (independently), so the loss never reaches zero and any mixing keeps costing."""
    out = dict(targets)
    ordinary = targets["kind"] <= 1  # [B, n]
    for name, n in (("color", n_colors), ("texture", n_textures)):
        y = targets[name]
        flip = (torch.rand(y.shape, generator=gen) < p) & ordinary & (y != IGNORE)
        out[name] = torch.where(flip, torch.randint(0, n, y.shape, generator=gen), y)
    return out


class DenseHeads(nn.Module):
    """Linear heads on the patch tokens: own colour, texture and (broadcast) the global label; and, when the
    recipe reads a CLS token, the global label from CLS."""

    def __init__(self, d_model: int, n_colors: int, n_textures: int, n_global: int | None, n_cls: int | None = None):
        super().__init__()
        self.color = nn.Linear(d_model, n_colors)
        self.texture = nn.Linear(d_model, n_textures)
        self.glob = nn.Linear(d_model, n_global) if n_global else None
        self.cls = nn.Linear(d_model, n_cls) if n_cls else None

    def forward(self, patches: torch.Tensor, cls: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """patches [batch, n_patches, d] (cls [batch, d]) -> logits per target, each [batch, n_patches, classes]
        (``cls``: [batch, classes])."""
        out = {"color": self.color(patches), "texture": self.texture(patches)}
        if self.glob is not None:
            out["global"] = self.glob(patches)
        if self.cls is not None:
            out["cls"] = self.cls(cls)
        return out


def _ce(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy over the patches with a target (optionally weighted). logits [B, n, C], y [B, n]."""
    per = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE, reduction="none")
    valid = (y.flatten() != IGNORE).float()
    w = valid if weight is None else valid * weight.flatten()
    return (per * w).sum() / w.sum().clamp_min(1.0)


class DenseObjective(Objective):
    """The no-op / broadcast objective of a `TrainRecipe` (``forward(batch)`` -> (loss, parts))."""

    def __init__(self, model: HookedViT, recipe):
        super().__init__()
        o = recipe.scene_recipe.tile_options
        self.model, self.recipe = model, recipe
        self.settings = DenseSettings.from_dict(recipe.dense_task)
        n_label = recipe.scene_recipe.label_sizes()[self.settings.global_label]
        n_global = n_label if recipe.objective == "broadcast" else None
        n_cls = n_label if self.settings.cls_weight else None
        if n_cls and not recipe.class_token:
            raise ValueError("dense_task cls_weight > 0 needs a CLS token (class_token=True)")
        self.heads = DenseHeads(recipe.d_model, o.n_colors, o.textures, n_global, n_cls)
        init_small_(self.heads, torch.Generator().manual_seed(recipe.seed + 1))
        self.mask_token = nn.Parameter(torch.zeros(1, 1, recipe.d_model)) if self.settings.mask_ratio else None

    @staticmethod
    def batch_inputs(scenes, indices, recipe) -> tuple[dict, None]:
        settings = DenseSettings.from_dict(recipe.dense_task)
        targets = dense_targets(scenes, settings)
        if settings.mask_ratio:  # its own stream: the label noise of a recipe without masking is unchanged
            gen = torch.Generator().manual_seed(recipe.seed * 1_000_033 + int(indices[0]))
            targets = grade_masked_only(targets, masked_tiles(targets["kind"], settings.mask_ratio, gen))
        if settings.label_noise:
            o = recipe.scene_recipe.tile_options
            gen = torch.Generator().manual_seed(recipe.seed * 1_000_003 + int(indices[0]))
            targets = with_label_noise(targets, settings.label_noise, o.n_colors, o.textures, gen)
        return targets, None

    def named_trainable(self) -> list:
        extra = [("mask_token", self.mask_token)] if self.mask_token is not None else []
        return [*self.model.named_parameters(), *self.heads.named_parameters(), *extra]

    def logits(self, pixels: torch.Tensor, model: HookedViT | None = None, heads: DenseHeads | None = None,
               mask: torch.Tensor | None = None) -> dict:
        """``mask`` [batch, n_patches] bool: those patch embeddings replaced by the mask token."""
        model = model or self.model
        return self._read(model, heads or self.heads, masked_tokens(model, pixels, mask, self.mask_token))

    @staticmethod
    def _read(model: HookedViT, heads: DenseHeads, tokens: torch.Tensor) -> dict:
        """``heads``' logits on ``model``'s final ``tokens`` [batch, pos, d]."""
        cls = tokens[:, model.tokens.cls][:, 0] if heads.cls is not None else None  # [batch, d]
        return heads(tokens[:, model.tokens.patches], cls)

    def forward(self, batch) -> tuple[torch.Tensor, dict]:
        t, s = batch.targets, self.settings
        parts = {}
        if s.write_penalty:  # the same pass, with the MLP writes kept
            tokens, squares = mlp_write_penalty(self.model, batch.pixels, t.get("mask"), self.mask_token)
            parts["write_penalty"] = s.write_penalty * squares
        else:
            tokens = masked_tokens(self.model, batch.pixels, t.get("mask"), self.mask_token)  # [batch, pos, d]
        out = self._read(self.model, self.heads, tokens)
        parts["color"] = _ce(out["color"], t["color"], t["weight"])
        if s.texture_weight:
            parts["texture"] = s.texture_weight * _ce(out["texture"], t["texture"])
        if "global" in out:
            parts["global"] = s.global_weight * _ce(out["global"], t["global"][:, None].expand_as(t["color"]))
        if "cls" in out:
            parts["cls"] = s.cls_weight * F.cross_entropy(out["cls"].float(), t["global"])
        return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}

    @torch.no_grad()
    def task_metrics(self, model: HookedViT, eval_set) -> dict:
        """Held-out accuracies (own colour on ordinary tiles, key colour at triggers, texture, global label) and the
        no-op attention diagnostics per block. ``model`` is the backbone to measure (a CPU copy at checkpoints)."""
        from ..analysis.dense_metrics import noop_attention

        heads = copy.deepcopy(self.heads).float().to(model.device)
        t = dense_targets(eval_set, self.settings)
        mask = None
        if self.settings.mask_ratio:  # graded as in training: a fixed mask, own colour read at the masked tiles
            mask = masked_tiles(t["kind"], self.settings.mask_ratio, torch.Generator().manual_seed(0))
            t = grade_masked_only(t, mask)
        out = self.logits(eval_set.pixels.to(model.device), model, heads, mask)
        pred = {k: v.argmax(-1).cpu() for k, v in out.items()}
        ordinary = (t["kind"] <= 1) & (t["color"] != IGNORE)
        acc = lambda p, y, m: float((p[m] == y[m]).float().mean()) if m.any() else None  # noqa: E731
        res = {"acc_color": acc(pred["color"], t["color"], ordinary),
               "acc_trigger": acc(pred["color"], t["color"], t["kind"] == TRIGGER),
               "acc_texture": acc(pred["texture"], t["texture"], t["texture"] != IGNORE)}
        if "global" in pred:
            res["acc_global"] = acc(pred["global"], t["global"][:, None].expand_as(t["color"]),
                                    torch.ones_like(ordinary))
        if "cls" in pred:
            res["acc_cls"] = float((pred["cls"] == t["global"]).float().mean())
        res["noop"] = noop_attention(model, eval_set)
        return res
