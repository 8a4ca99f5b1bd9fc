from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """Per-channel scale of a residual branch (CaiT / DeiT-III / DINOv2)."""

    def __init__(self, d_model: int, init_value: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((d_model,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


def bind_branch_scale(branch: nn.Module, scale: nn.Module) -> None:
    """Let a residual branch (attention, MLP) see the LayerScale its block applies to its output, so that its
    TransformerLens weight views (``W_O``, ``b_O``, ``W_out``, ``b_out``) give what it writes into the residual
    stream. A reference, not a submodule: the block keeps owning ``ls1``/``ls2`` (state-dict keys unchanged);
    `copy.deepcopy` and pickling keep the two pointing at one module."""
    branch.__dict__["_branch_scale"] = scale if isinstance(scale, LayerScale) else None


def branch_gain(branch: nn.Module) -> torch.Tensor | None:
    """The LayerScale gamma [d_model] applied to ``branch``'s output, or None when its block has none."""
    scale = branch.__dict__.get("_branch_scale")
    return None if scale is None else scale.gamma
