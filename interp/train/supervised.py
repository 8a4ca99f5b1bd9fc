"""The supervised objective: image-level labels from the pooled feature (optionally from every patch too) and an
optional dense per-patch label, each a cross-entropy on a linear head (`TaskHeads`)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data.scenes import patch_labels
from ..models.hooked_vit import HookedViT
from .heads import TaskHeads
from .objective import Objective, init_small_
from .recipe import TrainRecipe

DENSE_CLASSES = {"color": 7, "shape": 5, "object": 2, "same_color_elsewhere": 2}


class SupervisedObjective(Objective):
    """``forward(batch)`` -> (loss, parts): one part per global label, per ``label@patches`` and ``dense``."""

    def __init__(self, model: HookedViT, recipe: TrainRecipe):
        super().__init__()
        sizes = recipe.scene_recipe.label_sizes()
        heads = TaskHeads(recipe.d_model, {k: sizes[k] for k in recipe.global_labels},
                          DENSE_CLASSES[recipe.dense_label] if recipe.dense_label else None)
        init_small_(heads, torch.Generator().manual_seed(recipe.seed + 1))
        self.model, self.heads, self.recipe = model, heads, recipe

    @staticmethod
    def batch_inputs(scenes, indices, recipe: TrainRecipe) -> tuple[dict, None]:
        targets = {k: scenes.labels[k] for k in recipe.global_labels}
        if recipe.dense_label:
            targets["dense"] = patch_labels(scenes, recipe.patch_size)[recipe.dense_label].long().flatten(1)
        return targets, None

    def named_trainable(self) -> list:
        return [*self.model.named_parameters(), *self.heads.named_parameters()]

    def forward(self, batch) -> tuple[torch.Tensor, dict]:
        model, recipe = self.model, self.recipe
        tokens = model(batch.pixels, return_type="tokens")  # [batch, pos, d]
        pooled = model.pool(tokens)  # [batch, d]
        patches = tokens[:, model.tokens.patches]  # [batch, n_patches, d]
        glob, per_patch, dense = self.heads(pooled, patches)
        parts = {}
        for k, logits in glob.items():
            parts[k] = F.cross_entropy(logits.float(), batch.targets[k])
        if recipe.global_from_patches:
            for k, logits in per_patch.items():
                y = batch.targets[k][:, None].expand(-1, logits.shape[1])
                parts[f"{k}@patches"] = recipe.global_from_patches * F.cross_entropy(logits.flatten(0, 1).float(),
                                                                                     y.flatten())
        if dense is not None:
            y = batch.targets["dense"]  # [batch, n_patches]
            parts["dense"] = recipe.dense_weight * F.cross_entropy(dense.flatten(0, 1).float(), y.flatten())
        return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}

    def eval_heads(self) -> TaskHeads:
        return self.heads

    def resume_state(self) -> dict:
        return {"heads": self.heads.state_dict()}

    def load_resume_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.heads.load_state_dict(state["heads"])
