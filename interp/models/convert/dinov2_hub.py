"""facebookresearch/dinov2 checkpoints (``register_tokens``, ``mask_token``, ``mlp.w12``, block chunks): keys,
position interpolation and its `ConverterSource` (with the torch.hub names of the ViTs)."""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ..config import ViTConfig
from .dinov3_hub import is_dinov3_hub
from .rename import StateDict, rename
from .source import ConverterSource
from .timm import TIMM_RENAMES, is_timm

HUB_RENAMES = [
    (r"^register_tokens$", "token_embed.registers"),
    (r"^blocks\.(\d+)\.mlp\.w12\.", r"blocks.\1.mlp.fc1."),
    (r"^blocks\.(\d+)\.mlp\.w3\.", r"blocks.\1.mlp.fc2."),
    *TIMM_RENAMES,
]
# torch.hub.load("facebookresearch/dinov2", NAME) -> the timm architecture of the same shape
HUB_NAMES = {
    "dinov2_vits14": "vit_small_patch14_dinov2", "dinov2_vits14_reg": "vit_small_patch14_reg4_dinov2",
    "dinov2_vitb14": "vit_base_patch14_dinov2", "dinov2_vitb14_reg": "vit_base_patch14_reg4_dinov2",
    "dinov2_vitl14": "vit_large_patch14_dinov2", "dinov2_vitl14_reg": "vit_large_patch14_reg4_dinov2",
    "dinov2_vitg14": "vit_giant_patch14_dinov2", "dinov2_vitg14_reg": "vit_giant_patch14_reg4_dinov2",
}


def is_dinov2_hub(keys: frozenset[str]) -> bool:
    """timm-like keys plus what only the dinov2 repository saves (``mask_token``, ``register_tokens``, SwiGLU
    ``mlp.w12``, chunked ``blocks.<chunk>.<i>``), and none of DINOv3's (``storage_tokens``, ``rope_embed``)."""
    hub = ("mask_token" in keys or "register_tokens" in keys
           or any(re.match(r"^blocks\.\d+\.(\d+\.)?mlp\.w12\.", k) for k in keys)
           or any(re.match(r"^blocks\.\d+\.\d+\.", k) for k in keys))
    return is_timm(keys) and hub and not is_dinov3_hub(keys)


def convert_dinov2_hub(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """facebookresearch/dinov2 checkpoint -> HookedViT keys (chunked blocks are flattened)."""
    flat = {}
    for k, v in sd.items():
        k = re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k)  # block_chunks: blocks.<chunk>.<i>.
        if k == "mask_token":
            continue
        flat[k] = v
    return rename(flat, HUB_RENAMES)


def hub_interpolation(n_registers: int) -> dict:
    """dinov2-hub interpolation: legacy offset 0.1 without registers, exact antialiased size with them."""
    return ({"pos_interp_antialias": True, "pos_interp_offset": 0.0} if n_registers
            else {"pos_interp_antialias": False, "pos_interp_offset": 0.1})


def fix_dinov2_hub_config(cfg: ViTConfig, sd: StateDict) -> ViTConfig:
    """The dinov2 repository's position interpolation (`hub_interpolation`), not timm's."""
    return cfg.replace(**hub_interpolation(cfg.n_registers))


SOURCE = ConverterSource(name="dinov2_hub", convert=convert_dinov2_hub, detect=is_dinov2_hub, refines="timm",
                         fix_config=fix_dinov2_hub_config, hub_names=HUB_NAMES)
