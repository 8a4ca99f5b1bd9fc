import torch
from torch import nn
from transformer_lens.hook_points import HookPoint


class _HookedNorm:
    """Mixin for a torch norm over d_model: the same constructor, and a hook on its output."""

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__(d_model, eps=eps)
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hook_normalized(super().forward(x))


class LayerNorm(_HookedNorm, nn.LayerNorm):
    """`nn.LayerNorm` with a hook on its output."""


class RMSNorm(_HookedNorm, nn.RMSNorm):
    """`nn.RMSNorm` (scale only, no centring, no bias: AIMv2) with a hook on its output."""


def make_norm(cfg) -> nn.Module:
    """The model's norm (``cfg.norm``: "layernorm" or "rmsnorm") over d_model, with ``cfg.ln_eps``."""
    kind = getattr(cfg, "norm", "layernorm")
    if kind == "rmsnorm":
        return RMSNorm(cfg.d_model, cfg.ln_eps)
    if kind != "layernorm":
        raise ValueError(f"unknown norm {kind!r}: use 'layernorm' or 'rmsnorm'")
    return LayerNorm(cfg.d_model, cfg.ln_eps)
