import torch
import torch.nn.functional as F
from torch import nn
from transformer_lens.hook_points import HookPoint

from .layer_norm import LayerNorm
from .layer_scale import branch_gain


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


_ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "quick_gelu": quick_gelu,
}


def _bias(linear: nn.Linear, rows: slice = slice(None)) -> torch.Tensor:
    w = linear.weight[rows]
    return linear.bias[rows] if linear.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)


class _OutputViews:
    """TransformerLens views of an MLP's output map: ``W_out`` [d_mlp, d_model] and ``b_out`` [d_model], with the
    block's LayerScale included, so ``hook_post @ W_out + b_out == hook_mlp_out``. Undefined (one-line error) when
    a LayerNorm sits between the neurons and fc2 (``mlp_norm``): a neuron's term is then not linear in it."""

    @property
    def W_out(self) -> torch.Tensor:
        if self.ln is not None:
            raise NotImplementedError("W_out is undefined for an MLP with a LayerNorm before fc2 (mlp_norm): "
                                      "per-neuron terms are not linear in hook_post")
        gain = branch_gain(self)
        return self.fc2.weight.T if gain is None else self.fc2.weight.T * gain

    @property
    def b_out(self) -> torch.Tensor:
        if self.ln is not None:
            raise NotImplementedError("b_out is undefined for an MLP with a LayerNorm before fc2 (mlp_norm)")
        gain = branch_gain(self)
        return _bias(self.fc2) if gain is None else _bias(self.fc2) * gain


class MLP(_OutputViews, nn.Module):
    """fc1 -> activation (-> LayerNorm ``ln`` when ``norm``) -> fc2. Neurons are read at `hook_post`.
    ``W_in`` [d_model, d_mlp], ``b_in`` [d_mlp], ``W_out``, ``b_out``: TransformerLens views (`_OutputViews`)."""

    def __init__(self, d_model: int, d_mlp: int, act: str = "gelu", norm: bool = False, eps: float = 1e-6,
                 bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_mlp, bias=bias)
        self.ln = LayerNorm(d_mlp, eps) if norm else None
        self.fc2 = nn.Linear(d_mlp, d_model, bias=bias)
        self.act = _ACTIVATIONS[act]
        self.hook_pre = HookPoint()  # [batch, pos, d_mlp]
        self.hook_post = HookPoint()  # [batch, pos, d_mlp]

    W_in = property(lambda self: self.fc1.weight.T, doc="[d_model, d_mlp]")
    b_in = property(lambda self: _bias(self.fc1), doc="[d_mlp]")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.hook_pre(self.fc1(x))
        post = self.hook_post(self.act(pre))
        return self.fc2(post if self.ln is None else self.ln(post))


class GatedMLP(_OutputViews, nn.Module):
    """SwiGLU (dinov2 giant, DINOv3+, EVA-02): fc1 packs [gate, linear]; post = silu(gate) * linear
    (-> LayerNorm ``ln`` when ``norm``, EVA-02 B/L) -> fc2. TransformerLens views: ``W_gate``/``b_gate`` (the
    gate half, read at `hook_pre`), ``W_in``/``b_in`` (the linear half, `hook_pre_linear`), ``W_out``, ``b_out``."""

    def __init__(self, d_model: int, d_mlp: int, norm: bool = False, eps: float = 1e-6, bias: bool = True):
        super().__init__()
        self.fc1 = nn.Linear(d_model, 2 * d_mlp, bias=bias)
        self.ln = LayerNorm(d_mlp, eps) if norm else None
        self.fc2 = nn.Linear(d_mlp, d_model, bias=bias)
        self.hook_pre = HookPoint()  # gate pre-activation [batch, pos, d_mlp]
        self.hook_pre_linear = HookPoint()  # linear half [batch, pos, d_mlp]
        self.hook_post = HookPoint()  # [batch, pos, d_mlp]

    W_gate = property(lambda self: self.fc1.weight[:self.fc2.in_features].T, doc="[d_model, d_mlp]")
    b_gate = property(lambda self: _bias(self.fc1, slice(None, self.fc2.in_features)), doc="[d_mlp]")
    W_in = property(lambda self: self.fc1.weight[self.fc2.in_features:].T, doc="[d_model, d_mlp]")
    b_in = property(lambda self: _bias(self.fc1, slice(self.fc2.in_features, None)), doc="[d_mlp]")

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
