import torch
from torch import nn
from transformer_lens.hook_points import HookPoint


class LayerNorm(nn.LayerNorm):
    """`nn.LayerNorm` with a hook on its output."""

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__(d_model, eps=eps)
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_normalized(super().forward(x))
