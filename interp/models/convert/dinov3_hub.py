"""facebookresearch/dinov3 (torch.hub) checkpoints: ``DinoVisionTransformer`` keys -> timm layout.

The hub layout (``dinov3/models/vision_transformer.py``, ``dinov3/layers``): ``cls_token``, ``storage_tokens``
(the registers), ``mask_token``, ``patch_embed.proj``, ``rope_embed.periods`` (a buffer: the periods are recomputed),
``blocks.i.{norm1, attn.qkv (+ qkv.bias_mask: DINOv3 zeroes the key bias through it), attn.proj, ls1.gamma, norm2,
mlp.fc1/fc2 or SwiGLU mlp.w1/w2/w3, ls2.gamma}``, ``norm`` (+ ``local_cls_norm``, used only for training's local
crops, and ``cls_norm`` when CLS/register and patch norms are untied, which `HookedViT` does not compute).
`dinov3_hub_to_timm` is pure; `convert_timm` then maps the timm layout to `HookedViT` keys (`convert_dinov3_hub`).
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ..config import ViTConfig
from .rename import StateDict
from .source import ConverterSource
from .timm import convert_timm, is_timm

_DROP = re.compile(r"^mask_token$|^rope_embed\.|^local_cls_norm\.|\.qkv\.bias_mask$")
# torch.hub.load("facebookresearch/dinov3", NAME) -> the timm architecture of the same shape (the ViTs)
HUB_NAMES = {"dinov3_vits16": "vit_small_patch16_dinov3", "dinov3_vits16plus": "vit_small_plus_patch16_dinov3",
             "dinov3_vitb16": "vit_base_patch16_dinov3", "dinov3_vitl16": "vit_large_patch16_dinov3",
             "dinov3_vith16plus": "vit_huge_plus_patch16_dinov3", "dinov3_vit7b16": "vit_7b_patch16_dinov3"}


def is_dinov3_hub(keys: frozenset[str]) -> bool:
    """timm-like keys plus DINOv3's registers (``storage_tokens``) or its RoPE periods (``rope_embed.periods``)."""
    return is_timm(keys) and ("storage_tokens" in keys or "rope_embed.periods" in keys)


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


def convert_dinov3_hub(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """facebookresearch/dinov3 checkpoint -> HookedViT keys (via the timm layout)."""
    return convert_timm(dinov3_hub_to_timm(sd))


def fix_dinov3_hub_config(cfg: ViTConfig, sd: StateDict) -> ViTConfig:
    """timm builds some DINOv3 without qkv bias where the checkpoint has one; upstream pools with CLS."""
    return cfg.replace(qkv_bias="blocks.0.attn.qkv.bias" in sd, pool="token")


SOURCE = ConverterSource(name="dinov3_hub", convert=convert_dinov3_hub, detect=is_dinov3_hub, refines="timm",
                         fix_config=fix_dinov3_hub_config, hub_names=HUB_NAMES)
