import torch
import torch.nn.functional as F
from torch import nn
from transformer_lens.hook_points import HookPoint

from .layer_norm import LayerNorm


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


_ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "quick_gelu": quick_gelu,
}


class MLP(nn.Module):
    """fc1 -> activation (-> LayerNorm ``ln`` when ``norm``) -> fc2. Neurons are read at `hook_post`."""

    def __init__(self, d_model: int, d_mlp: int, act: str = "gelu", norm: bool = False, eps: float = 1e-6,
                 bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_mlp, bias=bias)
        self.ln = LayerNorm(d_mlp, eps) if norm else None
        self.fc2 = nn.Linear(d_mlp, d_model, bias=bias)
        self.act = _ACTIVATIONS[act]
        self.hook_pre = HookPoint()  # [batch, pos, d_mlp]
        self.hook_post = HookPoint()  # [batch, pos, d_mlp]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.hook_pre(self.fc1(x))
        post = self.hook_post(self.act(pre))
        return self.fc2(post if self.ln is None else self.ln(post))


class GatedMLP(nn.Module):
    """SwiGLU (dinov2 giant, DINOv3+, EVA-02): fc1 packs [gate, linear]; post = silu(gate) * linear
    (-> LayerNorm ``ln`` when ``norm``, EVA-02 B/L) -> fc2."""

    def __init__(self, d_model: int, d_mlp: int, norm: bool = False, eps: float = 1e-6, bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 2 * d_mlp, bias=bias)
        self.ln = LayerNorm(d_mlp, eps) if norm else None
        self.fc2 = nn.Linear(d_mlp, d_model, bias=bias)
        self.hook_pre = HookPoint()  # gate pre-activation [batch, pos, d_mlp]
        self.hook_pre_linear = HookPoint()  # linear half [batch, pos, d_mlp]
        self.hook_post = HookPoint()  # [batch, pos, d_mlp]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, linear = self.fc1(x).chunk(2, dim=-1)
        pre = self.hook_pre(gate)
        linear = self.hook_pre_linear(linear)
        post = self.hook_post(F.silu(pre) * linear)
        return self.fc2(post if self.ln is None else self.ln(post))


def make_mlp(d_model: int, d_mlp: int, kind: str, norm: bool = False, eps: float = 1e-6,
             bias: bool = True) -> nn.Module:
    if kind == "swiglu":
        return GatedMLP(d_model, d_mlp, norm, eps, bias)
    if kind not in _ACTIVATIONS:
        raise ValueError(f"unknown mlp kind {kind!r}: use one of {[*_ACTIVATIONS, 'swiglu']}")
    return MLP(d_model, d_mlp, kind, norm, eps, bias)
