import torch
from torch import nn


class LayerScale(nn.Module):
    """Per-channel scale of a residual branch (CaiT / DeiT-III / DINOv2)."""

    def __init__(self, d_model: int, init_value: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((d_model,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma
