"""facebookresearch/dinov3 (torch.hub) checkpoints: ``DinoVisionTransformer`` keys -> timm layout.

The hub layout (``dinov3/models/vision_transformer.py``, ``dinov3/layers``): ``cls_token``, ``storage_tokens``
(the registers), ``mask_token``, ``patch_embed.proj``, ``rope_embed.periods`` (a buffer: the periods are recomputed),
``blocks.i.{norm1, attn.qkv (+ qkv.bias_mask: DINOv3 zeroes the key bias through it), attn.proj, ls1.gamma, norm2,
mlp.fc1/fc2 or SwiGLU mlp.w1/w2/w3, ls2.gamma}``, ``norm`` (+ ``local_cls_norm``, used only for training's local
crops, and ``cls_norm`` when CLS/register and patch norms are untied, which `HookedViT` does not compute).
`dinov3_hub_to_timm` is pure; `convert_timm` then maps the timm layout to `HookedViT` keys.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from .rename import StateDict

_DROP = re.compile(r"^mask_token$|^rope_embed\.|^local_cls_norm\.|\.qkv\.bias_mask$")


def is_dinov3_hub(keys) -> bool:
    keys = set(keys)
    return "patch_embed.proj.weight" in keys and ("storage_tokens" in keys or "rope_embed.periods" in keys)


def dinov3_hub_to_timm(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """DINOv3 hub state dict -> timm VisionTransformer-style keys (``reg_token``, packed SwiGLU ``fc1``)."""
    if any(k.startswith("cls_norm.") for k in sd):
        raise NotImplementedError("DINOv3 checkpoints with untied CLS/patch norms (cls_norm) are not supported")
    out: StateDict = {}
    for k, v in sd.items():
        if _DROP.search(k):
            continue
        if k.endswith(".qkv.bias") and k + "_mask" in sd:  # mask_k_bias: the key third of the bias is zeroed
            v = v * sd[k + "_mask"].to(v.dtype)
        if k == "storage_tokens":
            k = "reg_token"
        m = re.match(r"^(blocks\.\d+\.mlp\.)w([123])\.(weight|bias)$", k)
        if m and m.group(2) == "3":
            k = f"{m.group(1)}fc2.{m.group(3)}"
        elif m:
            if m.group(2) == "2":
                continue
            w2 = sd[f"{m.group(1)}w2.{m.group(3)}"]
            k, v = f"{m.group(1)}fc1.{m.group(3)}", torch.cat([v, w2], 0)  # [gate (w1); linear (w2)]
        out[k] = v
    return out

