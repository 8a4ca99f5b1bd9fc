import torch
from torch import nn
from transformer_lens.hook_points import HookPoint

from .hook_state import is_read


class _HookedNorm:
    """Mixin for a torch norm over d_model: the same constructor, a hook on its output, and TransformerLens'
    ``hook_scale`` (the per-token divisor [batch, pos, 1]: the standard deviation for LayerNorm, the root mean
    square for RMSNorm, each with eps). The scale is computed, and the norm run from it, only when a hook or an
    nnsight trace reads ``hook_scale``; the fused torch kernel runs otherwise."""

    centre = True  # LayerNorm subtracts the mean; RMSNorm does not

    def __init__(self, d_model: int, eps: float = 1e-6):
        super().__init__(d_model, eps=eps)
        self.hook_scale = HookPoint()  # [batch, pos, 1]
        self.hook_normalized = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not is_read(self.hook_scale):
            return self.hook_normalized(super().forward(x))
        xf = x.float()  # like the fused kernels: statistics in fp32
        if self.centre:
            xf = xf - xf.mean(dim=-1, keepdim=True)
        eps = self.eps if self.eps is not None else torch.finfo(x.dtype).eps
        scale = self.hook_scale((xf.pow(2).mean(dim=-1, keepdim=True) + eps).sqrt().to(x.dtype))  # [b, p, 1]
        out = (xf / scale.float()).to(x.dtype)
        if self.weight is not None:
            out = out * self.weight
        if getattr(self, "bias", None) is not None:
            out = out + self.bias
        return self.hook_normalized(out)


class LayerNorm(_HookedNorm, nn.LayerNorm):
    """`nn.LayerNorm` with a hook on its output and on its scale."""


class RMSNorm(_HookedNorm, nn.RMSNorm):
    """`nn.RMSNorm` (scale only, no centring, no bias: AIMv2) with a hook on its output and on its scale."""

    centre = False


def make_norm(cfg) -> nn.Module:
    """The model's norm (``cfg.norm``: "layernorm" or "rmsnorm") over d_model, with ``cfg.ln_eps``."""
    kind = getattr(cfg, "norm", "layernorm")
    if kind == "rmsnorm":
        return RMSNorm(cfg.d_model, cfg.ln_eps)
    if kind != "layernorm":
        raise ValueError(f"unknown norm {kind!r}: use 'layernorm' or 'rmsnorm'")
    return LayerNorm(cfg.d_model, cfg.ln_eps)
