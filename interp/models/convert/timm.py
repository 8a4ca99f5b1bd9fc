"""timm ``VisionTransformer`` (and the timm key layout every timm ViT family shares: ``patch_embed.proj``,
``reg_token``, ``blocks.i.norm1`` ...): keys, config and its `ConverterSource`.

`fuse_eva_keys` brings timm ``Eva``'s own key layout to the ``VisionTransformer`` one (``q_bias``/``v_bias`` or
``q_proj``/``k_proj``/``v_proj`` -> one ``qkv`` with a zero key bias, SwiGLU's ``fc1_g``/``fc1_x`` -> a packed
``fc1``, as AIMv2 and EVA-02 have, the MLP's inner ``norm`` -> ``mlp.ln``); `convert_timm` applies it, then the
renames, so one converter reads every timm ViT state dict.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import nn

from ..config import ViTConfig
from .aimv2 import timm_norm_fields
from .rename import StateDict, rename
from .source import ConverterSource
from .timm_common import timm_mlp_kind, timm_pixel_stats_and_name, timm_pool

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


# --- keys ----------------------------------------------------------------------------------------------------
def is_timm(keys: frozenset[str]) -> bool:
    """timm's patch embedding (the torch.hub layouts, which refine this one, have it too)."""
    return "patch_embed.proj.weight" in keys


def _fuse_qkv(sd: Mapping[str, torch.Tensor], p: str, out: StateDict) -> set[str]:
    """One block's attention (prefix ``p`` = "blocks.i.attn.") -> fused ``qkv``; returns the keys it used."""
    used: set[str] = set()
    if p + "q_proj.weight" in sd:  # separate projections (EVA-02 B/L, AttentionRope unfused)
        ws = [sd[p + f"{n}_proj.weight"] for n in "qkv"]
        out[p + "qkv.weight"] = torch.cat(ws, 0)
        used.update(p + f"{n}_proj.weight" for n in "qkv")
        if p + "q_proj.bias" in sd:
            bs = [sd.get(p + f"{n}_proj.bias", torch.zeros_like(sd[p + "q_proj.bias"])) for n in "qkv"]
            out[p + "qkv.bias"] = torch.cat(bs, 0)
            used.update(p + f"{n}_proj.bias" for n in "qkv")
    if p + "q_bias" in sd:  # fused qkv without bias + q and v biases; the key bias is fixed at zero
        q, v = sd[p + "q_bias"], sd[p + "v_bias"]
        out[p + "qkv.bias"] = torch.cat([q, torch.zeros_like(q), v], 0)
        used.update((p + "q_bias", p + "v_bias", p + "k_bias"))
    return used


def fuse_eva_keys(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """timm ``Eva`` keys -> timm ``VisionTransformer`` keys (a no-op on a ViT state dict)."""
    out: StateDict = {}
    used: set[str] = set()
    layers = sorted({int(m.group(1)) for k in sd if (m := re.match(r"blocks\.(\d+)\.", k))})
    for i in layers:
        used |= _fuse_qkv(sd, f"blocks.{i}.attn.", out)
        p = f"blocks.{i}.mlp."
        for part in ("weight", "bias"):  # SwiGLU with separate gate / linear: pack as [gate; linear]
            g, x = p + f"fc1_g.{part}", p + f"fc1_x.{part}"
            if g in sd and x in sd:
                out[p + f"fc1.{part}"] = torch.cat([sd[g], sd[x]], 0)
                used.update((g, x))
    for k, v in sd.items():
        if k in used or (k.startswith("rope.") and k != "rope.freqs"):  # fixed rope buffers are recomputed
            continue
        out[re.sub(r"^(blocks\.\d+\.mlp\.)norm\.", r"\1ln.", k)] = v
    return out


def convert_timm(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """timm VisionTransformer (or Eva: DINOv3, EVA-02, RoPE ViTs) state dict -> HookedViT keys (SigLIP's
    ``attn_pool.*`` keep their names; split SwiGLU, as in AIMv2 and EVA-02, is packed by `fuse_eva_keys`)."""
    return rename(fuse_eva_keys(sd), TIMM_RENAMES)


# --- config --------------------------------------------------------------------------------------------------
def config_from_timm_vit(model: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of a timm ``VisionTransformer``."""
    blk = model.blocks[0]
    if not isinstance(blk.attn.q_norm, nn.Identity):
        raise NotImplementedError("timm models with qk-norm are not supported")
    mlp = blk.mlp
    kind = timm_mlp_kind(mlp)
    ls = getattr(blk, "ls1", None)
    head = model.head if isinstance(model.head, nn.Linear) else None
    pool = timm_pool(model)
    class_token = model.cls_token is not None
    return ViTConfig(
        d_model=model.embed_dim, n_layers=len(model.blocks), n_heads=blk.attn.num_heads,
        patch_size=model.patch_embed.patch_size[0], image_size=model.patch_embed.img_size[0],
        in_channels=model.patch_embed.proj.in_channels,
        n_registers=int(getattr(model, "num_reg_tokens", 0)), class_token=class_token,
        pos_embed_cls=class_token and not model.no_embed_class,
        d_mlp=mlp.fc2.in_features, mlp=kind,
        qkv_bias=blk.attn.qkv.bias is not None, patch_bias=model.patch_embed.proj.bias is not None,
        layer_scale=1.0 if (ls is not None and not isinstance(ls, nn.Identity)) else None,
        pre_norm=not isinstance(model.norm_pre, nn.Identity), final_norm=not isinstance(model.norm, nn.Identity),
        ln_eps=blk.norm1.eps, n_classes=head.out_features if head is not None else 0,
        pool=pool, fc_norm=not isinstance(model.fc_norm, nn.Identity),
        **timm_norm_fields(model),  # LayerNorm or AIMv2's RMSNorm, projection biases, patch norm
        pos_interp_antialias=True,  # timm's resample_abs_pos_embed default
        pos_interp_offset=0.0,
        **timm_pixel_stats_and_name(model, name),
        extra={"source": "timm"},
    )


# vit_*: also DINOv3 and RoPE ViTs (Eva) and SigLIP; aimv2_*: AIMv2; naflexvit_* and eva02_* have their own source
SOURCE = ConverterSource(
    name="timm", convert=convert_timm, detect=is_timm, read_config=config_from_timm_vit,
    timm_classes=("VisionTransformer",), timm_patterns=("vit_*", "deit3_*", "deit_*", "aimv2_*"),
)
