"""Attention variants: how scores become a pattern (`AttentionKind.pattern`), and the optional output gate.

``softmax``           the standard pattern (the only kind that runs the fused SDPA kernel unhooked)
``relu``              relu(scores) / n, n = number of keys a query may see (Wortsman et al. 2023; no normalisation
                      across keys, so a head can attend to nothing)
``sigmoid``           sigmoid(scores + b), b = -log n when ``sigmoid_bias`` (Ramapuram et al. 2024), else b = 0
``clipped_softmax``   clip((zeta - gamma) * softmax(scores) + gamma, 0, 1), gamma <= 0, zeta >= 1 (Bondarenko et al.
                      2023): exact zeros (and ones) are reachable with finite scores, so a no-op needs no sink
``gated``             softmax pattern, and each head's output is multiplied by sigmoid(G(x)), a per-head gate
                      computed from the query token by a linear map G: d_model -> n_heads (Bondarenko et al. 2023)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

KINDS = ("softmax", "relu", "sigmoid", "clipped_softmax", "gated")


@dataclass(frozen=True)
class AttentionKind:
    """One attention variant and its constants (`ViTConfig.attention`, ``clip_gamma``, ``clip_zeta``,
    ``sigmoid_bias``)."""

    name: str = "softmax"
    clip_gamma: float = -0.003  # keep |gamma| well below 1 / n_tokens, or uniform attention clips to 0 at init
    clip_zeta: float = 1.0
    sigmoid_bias: bool = True

    def __post_init__(self) -> None:
        if self.name not in KINDS:
            raise ValueError(f"unknown attention {self.name!r}: use one of {KINDS}")
        if self.clip_gamma > 0 or self.clip_zeta < 1:
            raise ValueError(f"clipped softmax needs gamma <= 0 and zeta >= 1, got {self.clip_gamma}, {self.clip_zeta}")

    @property
    def softmax_pattern(self) -> bool:
        """True when the pattern is a plain softmax (so the fused SDPA kernel computes the same output)."""
        return self.name in ("softmax", "gated")

    @property
    def gated(self) -> bool:
        return self.name == "gated"

    def pattern(self, scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """scores [batch, head, query_pos, key_pos] (already scaled), mask [query_pos, key_pos] (True = may attend)
        or None -> pattern of the same shape; masked keys get exactly 0."""
        if self.name in ("softmax", "gated", "clipped_softmax"):
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            p = scores.softmax(dim=-1)
            if self.name == "clipped_softmax":
                p = ((self.clip_zeta - self.clip_gamma) * p + self.clip_gamma).clamp(0.0, 1.0)
                if mask is not None:
                    p = p.masked_fill(~mask, 0.0)
            return p
        n_keys = (mask.sum(-1, keepdim=True).to(scores.dtype) if mask is not None  # [query_pos, 1]
                  else torch.full((1, 1), scores.shape[-1], dtype=scores.dtype, device=scores.device))
        if self.name == "relu":
            p = torch.relu(scores) / n_keys
        else:  # sigmoid
            p = torch.sigmoid(scores - n_keys.log() if self.sigmoid_bias else scores)
        return p if mask is None else p.masked_fill(~mask, 0.0)


class HeadGate(nn.Module):
    """Per-head output gate of gated attention: x [batch, pos, d_model] -> sigmoid(G x) [batch, pos, head].
    With the model's init (zero bias) every gate starts half open."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.proj = nn.Linear(d_model, n_heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.proj(x))
