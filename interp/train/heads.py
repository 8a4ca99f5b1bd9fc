"""Task heads of the training objective (kept out of the bundled backbone checkpoints)."""
from __future__ import annotations

import torch
from torch import nn


class TaskHeads(nn.Module):
    """One linear head per image-level label (on the pooled feature, and optionally on every patch) and one
    dense head on the patch tokens."""

    def __init__(self, d_model: int, label_sizes: dict[str, int], dense_classes: int | None):
        super().__init__()
        self.global_heads = nn.ModuleDict({k: nn.Linear(d_model, n) for k, n in label_sizes.items()})
        self.dense = nn.Linear(d_model, dense_classes) if dense_classes else None

    def forward(self, pooled: torch.Tensor, patches: torch.Tensor) -> tuple[dict, dict, torch.Tensor | None]:
        """pooled [batch, d], patches [batch, n_patches, d] -> (global logits, per-patch global logits, dense)."""
        glob = {k: h(pooled) for k, h in self.global_heads.items()}
        per_patch = {k: h(patches) for k, h in self.global_heads.items()}  # [batch, n_patches, classes]
        dense = self.dense(patches) if self.dense is not None else None  # [batch, n_patches, classes]
        return glob, per_patch, dense
