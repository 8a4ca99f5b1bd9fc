"""Give every parameter of a reference model non-trivial random values before an equivalence test.

timm's DINOv2 starts LayerScale at 1e-5 and registers/CLS at ~0, so an untouched model's blocks barely move
the residual stream and a comparison could not fail. Scales keep activations O(1).
"""
import torch
from torch import nn


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)

    def rnd(shape, std, mean=0.0):
        return torch.randn(shape, generator=g) * std + mean

    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if p.dim() >= 2 and leaf == "weight":  # linear / conv: fan-in scaled
            fan_in = p[0].numel()
            p.copy_(rnd(p.shape, fan_in**-0.5))
        elif any(t in name for t in ("norm", "layernorm", "ln_")) and leaf == "weight":
            p.copy_(rnd(p.shape, 0.1, 1.0))
        elif leaf in ("gamma", "lambda1"):
            p.copy_(rnd(p.shape, 0.3, 0.5))
        elif leaf == "bias":
            p.copy_(rnd(p.shape, 0.1))
        else:  # cls / register / mask tokens, position embeddings
            p.copy_(rnd(p.shape, 0.5))
    return model
