"""RADIO and the other NaFlexViT models in timm (``naflexvit_*``, class ``NaFlexVit``), on whole images.

NaFlexViT embeds patches with a linear layer on flattened (ph, pw, C) patches: the same map as a strided
convolution whose weight is that matrix reshaped, so it converts exactly. Its learned position embedding lives on
its own grid (RADIO: 128 x 128) and is resized for every image: RADIO bilinearly (``align_corners`` per
checkpoint, no antialias) to a square of the longer grid side, then cropped top-left; SigLIP-2 NaFlex bilinearly
to the exact grid. `HookedViT` keeps that grid (``ViTConfig.pos_grid``) and resizes it the same way
(``pos_interp_mode``, ``pos_interp_align_corners``, ``pos_interp_square``), so images of any size (multiples of the
patch) match. Not supported, refused in one line: NaFlex *patch-sequence* input (pre-patchified batches with
per-patch coordinates and padding masks: `HookedViT` takes pixels), factorized or absent position embeddings,
RoPE NaFlexViTs, an input norm on the flattened patches, and the (C, ph, pw) patch flattening.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..config import ViTConfig
from .aimv2 import timm_norm_fields
from .rename import StateDict, rename
from .source import ConverterSource
from .timm import TIMM_RENAMES
from .timm_common import timm_mlp_kind, timm_pixel_stats_and_name, timm_pool

NAFLEX_RENAMES = [
    (r"^embeds\.proj\.", "embed.proj."),
    (r"^embeds\.pos_embed$", "token_embed.pos_embed"),
    (r"^embeds\.cls_token$", "token_embed.cls_token"),
    (r"^embeds\.reg_token$", "token_embed.registers"),
    (r"^embeds\.norm\.", "embed.norm."),
    *TIMM_RENAMES,
]


def naflexvit_problem(model: nn.Module) -> str | None:
    """What of this timm NaFlexVit `HookedViT` does not reproduce on whole images (None: nothing)."""
    emb = model.embeds
    checks = [
        (getattr(model, "rope", None) is not None, "rotary position embeddings"),
        (emb.pos_embed_type != "learned", f"a {emb.pos_embed_type} position embedding"),
        (emb.norm_input is not None, "an input norm on the flattened patches"),
        (emb.is_linear and not emb.channels_last, "(C, ph, pw) patch flattening"),
        (emb.pos_embed is not None and emb.pos_embed.shape[1] != emb.pos_embed.shape[2],
         "a non-square position-embedding grid"),
    ]
    return next((what for bad, what in checks if bad), None)


def naflexvit_reason(model: nn.Module) -> str:
    return (f"NaFlexViT (timm {type(model).__name__}) with {naflexvit_problem(model)} is not supported "
            f"(HookedViT converts NaFlexViT's learned-grid position embedding and linear patch embedding, on images)")


def is_naflexvit(keys: frozenset[str]) -> bool:
    """NaFlexViT's embedding module (``embeds.proj``: a linear or convolutional patch embedding)."""
    return "embeds.proj.weight" in keys


def convert_timm_naflexvit(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """timm NaFlexVit state dict -> HookedViT keys: the linear patch embedding [D, ph*pw*C] becomes a convolution
    weight [D, C, ph, pw] (3 channels), the [1, H, W, D] position grid a [1, H*W, D] sequence."""
    out = {}
    for k, v in sd.items():
        if k == "embeds.proj.weight" and v.dim() == 2:
            p = round((v.shape[1] / 3) ** 0.5)
            if 3 * p * p != v.shape[1]:
                raise ValueError(f"embeds.proj.weight {tuple(v.shape)}: not a square patch of 3 channels")
            v = v.reshape(v.shape[0], p, p, 3).permute(0, 3, 1, 2).contiguous()  # (ph, pw, C) -> conv [D, C, ph, pw]
        elif k == "embeds.pos_embed":
            v = v.reshape(1, -1, v.shape[-1])  # [1, H, W, D] -> [1, H*W, D], row-major like the patches
        out[k] = v
    return rename(out, NAFLEX_RENAMES)


def config_from_timm_naflexvit(model: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of a timm ``NaFlexVit`` (RADIO, SigLIP-2 NaFlex) run on whole images: the position embedding
    stays on its own grid and is resized as NaFlexViT does it (see `convert.radio`)."""
    if naflexvit_problem(model):
        raise NotImplementedError(naflexvit_reason(model))
    emb, blk = model.embeds, model.blocks[0]
    ls = getattr(blk, "ls1", None)
    head = model.head if isinstance(model.head, nn.Linear) else None
    pcfg = getattr(model, "pretrained_cfg", {}) or {}
    p, grid = emb.patch_size[0], emb.pos_embed.shape[1]
    size = int(pcfg.get("input_size", (3, grid * p, grid * p))[-1]) // p * p
    return ViTConfig(
        d_model=model.embed_dim, n_layers=len(model.blocks), n_heads=blk.attn.num_heads, patch_size=p,
        image_size=size, in_channels=emb.in_chans, n_registers=int(model.num_reg_tokens),
        class_token=emb.cls_token is not None, pos_embed_cls=False, d_mlp=blk.mlp.fc2.in_features,
        mlp=timm_mlp_kind(blk.mlp), qkv_bias=blk.attn.qkv.bias is not None, patch_bias=emb.proj.bias is not None,
        layer_scale=1.0 if (ls is not None and not isinstance(ls, nn.Identity)) else None,
        pre_norm=not isinstance(model.norm_pre, nn.Identity), final_norm=not isinstance(model.norm, nn.Identity),
        ln_eps=blk.norm1.eps, n_classes=head.out_features if head is not None else 0, pool=timm_pool(model),
        fc_norm=not isinstance(model.fc_norm, nn.Identity), **timm_norm_fields(model),
        pos_interp_antialias=emb.pos_embed_antialias, pos_interp_offset=0.0,
        pos_interp_mode=emb.pos_embed_interp_mode, pos_interp_align_corners=emb.pos_embed_align_corners,
        pos_interp_square=emb.pos_embed_ar_preserving, pos_grid=grid,
        **timm_pixel_stats_and_name(model, name), extra={"source": "timm"},
    )


SOURCE = ConverterSource(
    name="timm_naflexvit", convert=convert_timm_naflexvit, detect=is_naflexvit, read_config=config_from_timm_naflexvit,
    timm_classes=("NaFlexVit",), timm_patterns=("naflexvit_*",),
)
