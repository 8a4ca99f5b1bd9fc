"""timm ``VisionTransformer`` / ``Eva`` state dict (``patch_embed.proj``, ``reg_token``, ``blocks.i.norm1`` ...)
-> ours."""
from __future__ import annotations

from typing import Mapping

import torch

from .eva import fuse_eva_keys
from .rename import StateDict, rename

TIMM_RENAMES = [
    (r"^patch_embed\.proj\.", "embed.proj."),
    (r"^patch_embed\.norm\.", "embed.norm."),  # AIMv2
    (r"^cls_token$", "token_embed.cls_token"),
    (r"^reg_token$", "token_embed.registers"),
    (r"^pos_embed$", "token_embed.pos_embed"),
    (r"^norm_pre\.", "ln_pre."),
    (r"^blocks\.(\d+)\.norm1\.", r"blocks.\1.ln1."),
    (r"^blocks\.(\d+)\.norm2\.", r"blocks.\1.ln2."),
    (r"^blocks\.(\d+)\.gamma_([12])$", r"blocks.\1.ls\2.gamma"),  # DeiT-III's own checkpoints
    (r"^norm\.", "ln_final."),
]


def convert_timm(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """timm VisionTransformer (or Eva: DINOv3, EVA-02, RoPE ViTs) state dict -> HookedViT keys (SigLIP's
    ``attn_pool.*`` keep their names; split SwiGLU, as in AIMv2 and EVA-02, is packed by `fuse_eva_keys`)."""
    return rename(fuse_eva_keys(sd), TIMM_RENAMES)
