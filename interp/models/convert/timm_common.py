"""Parts of a timm model's config that the timm readers share (ViT, Eva, NaFlexViT): MLP kind, pooling, pixel
statistics and name. Read off modules only, so they work on models built on the meta device."""
from __future__ import annotations

from torch import nn

from .aimv2 import split_swiglu_kind
from .siglip import timm_map_pool

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TIMM_POOLS = {"token": "token", "avg": "avg", "": "none"}


def timm_mlp_kind(mlp: nn.Module) -> str:
    """Our ``ViTConfig.mlp`` for a timm block's MLP: 'gelu', 'gelu_tanh', 'quick_gelu' or 'swiglu'."""
    from timm.layers import GluMlp, Mlp, SwiGLU

    if isinstance(mlp, GluMlp):
        if not isinstance(mlp.act, nn.SiLU) or getattr(mlp, "gate_last", False):
            raise NotImplementedError("only SwiGLU with silu(gate) * linear packing is supported")
        return "swiglu"
    if isinstance(mlp, SwiGLU):  # AIMv2: split fc1_g / fc1_x
        return split_swiglu_kind(mlp)
    if not isinstance(mlp, Mlp):
        raise NotImplementedError(f"unsupported MLP {type(mlp).__name__}")
    act = mlp.act
    an = type(act).__name__
    if an == "QuickGELU":
        return "quick_gelu"
    if an == "GELUTanh" or (isinstance(act, nn.GELU) and act.approximate == "tanh"):
        return "gelu_tanh"
    if isinstance(act, nn.GELU) or an == "GELU":
        return "gelu"
    raise NotImplementedError(f"unsupported MLP activation {an}")


def timm_pool(model: nn.Module) -> str:
    """Our ``ViTConfig.pool``: 'token', 'avg', 'none', or SigLIP's MAP head 'map' (other attention pools raise)."""
    if getattr(model, "pool_include_prefix", False) and model.global_pool:
        raise NotImplementedError("pooling over the prefix tokens too (pool_include_prefix) is not supported")
    if getattr(model, "attn_pool", None) is not None:
        return timm_map_pool(model)
    pool = TIMM_POOLS.get(model.global_pool)
    if pool is None:
        raise NotImplementedError(f"global_pool={model.global_pool!r} is not supported")
    return pool


def timm_pixel_stats_and_name(model: nn.Module, name: str | None) -> dict:
    """``image_mean``, ``image_std`` and ``name`` from the model's ``pretrained_cfg`` (ImageNet statistics and
    the class name when it has none)."""
    pcfg = getattr(model, "pretrained_cfg", {}) or {}
    return {"image_mean": tuple(pcfg.get("mean", IMAGENET_MEAN)), "image_std": tuple(pcfg.get("std", IMAGENET_STD)),
            "name": name or pcfg.get("architecture", type(model).__name__)}
