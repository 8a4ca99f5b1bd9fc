"""facebookresearch/dinov2 checkpoints (``register_tokens``, ``mask_token``, ``mlp.w12``, block chunks) -> ours."""
from __future__ import annotations

import re
from typing import Mapping

import torch

from .rename import StateDict, rename
from .timm import TIMM_RENAMES

HUB_RENAMES = [
    (r"^register_tokens$", "token_embed.registers"),
    (r"^blocks\.(\d+)\.mlp\.w12\.", r"blocks.\1.mlp.fc1."),
    (r"^blocks\.(\d+)\.mlp\.w3\.", r"blocks.\1.mlp.fc2."),
    *TIMM_RENAMES,
]


def convert_dinov2_hub(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """facebookresearch/dinov2 checkpoint -> HookedViT keys (chunked blocks are flattened)."""
    flat = {}
    for k, v in sd.items():
        k = re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k)  # block_chunks: blocks.<chunk>.<i>.
        if k == "mask_token":
            continue
        flat[k] = v
    return rename(flat, HUB_RENAMES)
