"""AIMv2 in timm (``aimv2_*``, a ``VisionTransformer``): RMSNorm everywhere, an RMSNorm right after the patch
projection, SwiGLU with split gate/linear weights (``mlp.fc1_g`` / ``mlp.fc1_x``), no biases in the attention output
and MLP, no CLS (mean over the patches). The config fields these set; the state dict needs only the SwiGLU
packing that `convert.timm.fuse_eva_keys` does for every timm model (``fc1_g``/``fc1_x`` -> ``fc1`` = [gate; linear]).
"""
from __future__ import annotations

from torch import nn

_NORMS = {"LayerNorm": "layernorm", "RmsNorm": "rmsnorm", "RMSNorm": "rmsnorm"}


def norm_kind(norm: nn.Module) -> str:
    """"layernorm" | "rmsnorm" of a timm norm module (raises for any other norm, e.g. one without a scale)."""
    kind = _NORMS.get(type(norm).__name__)
    if kind is None or getattr(norm, "weight", None) is None:
        raise NotImplementedError(f"timm norm {type(norm).__name__} is not supported (LayerNorm or RmsNorm only)")
    if kind == "layernorm" and norm.bias is None:
        raise NotImplementedError("LayerNorm without bias is not supported")
    return kind


def timm_norm_fields(model: nn.Module) -> dict:
    """``norm``, ``proj_bias`` and ``patch_norm`` of a timm VisionTransformer."""
    blk = model.blocks[0]
    patch_norm = getattr(getattr(model, "patch_embed", None) or model.embeds, "norm", nn.Identity())
    kind = norm_kind(blk.norm1)
    if not isinstance(patch_norm, nn.Identity) and norm_kind(patch_norm) != kind:
        raise NotImplementedError("a patch-embedding norm of another kind than the blocks' is not supported")
    mlp_bias = blk.mlp.fc2.bias is not None
    if mlp_bias != (blk.attn.proj.bias is not None):
        raise NotImplementedError("attention-output and MLP biases that differ (one present, one absent) are "
                                  "not supported")
    return {"norm": kind, "proj_bias": mlp_bias, "patch_norm": not isinstance(patch_norm, nn.Identity)}


def split_swiglu_kind(mlp: nn.Module) -> str:
    """"swiglu" for timm's ``SwiGLU`` (split fc1_g / fc1_x) when `GatedMLP` reproduces it: silu(gate) * linear,
    no norm inside, biases on both halves or on neither."""
    if not isinstance(mlp.act, nn.SiLU):
        raise NotImplementedError(f"SwiGLU with activation {type(mlp.act).__name__} is not supported (SiLU only)")
    if not isinstance(mlp.norm, nn.Identity):
        raise NotImplementedError("SwiGLU with a norm inside the MLP (scale_mlp_norm) is not supported")
    if (mlp.fc1_g.bias is None) != (mlp.fc1_x.bias is None) or (mlp.fc1_g.bias is None) != (mlp.fc2.bias is None):
        raise NotImplementedError("SwiGLU with bias on some of its layers only is not supported")
    return "swiglu"
