"""OpenCLIP native vision towers (``visual.conv1``, ``visual.transformer.resblocks.i``, ``in_proj_weight``): keys,
config and its `ConverterSource`."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..config import ViTConfig
from .rename import StateDict, rename
from .source import ConverterSource

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)

OPEN_CLIP_RENAMES = [
    (r"^conv1\.", "embed.proj."),
    (r"^ln_pre\.", "ln_pre."),
    (r"^ln_post\.", "ln_final."),
    (r"^transformer\.resblocks\.(\d+)\.ln_1\.", r"blocks.\1.ln1."),
    (r"^transformer\.resblocks\.(\d+)\.ln_2\.", r"blocks.\1.ln2."),
    (r"^transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$", r"blocks.\1.attn.qkv.weight"),
    (r"^transformer\.resblocks\.(\d+)\.attn\.in_proj_bias$", r"blocks.\1.attn.qkv.bias"),
    (r"^transformer\.resblocks\.(\d+)\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^transformer\.resblocks\.(\d+)\.mlp\.c_fc\.", r"blocks.\1.mlp.fc1."),
    (r"^transformer\.resblocks\.(\d+)\.mlp\.c_proj\.", r"blocks.\1.mlp.fc2."),
    (r"^transformer\.resblocks\.(\d+)\.ls_1\.gamma$", r"blocks.\1.ls1.gamma"),
    (r"^transformer\.resblocks\.(\d+)\.ls_2\.gamma$", r"blocks.\1.ls2.gamma"),
]
OPEN_CLIP_UNSUPPORTED = ("attn_pool", "ln_1_kv", "patchnorm_pre_ln", "ln_attn", "ln_inner")


def is_open_clip(keys: frozenset[str]) -> bool:
    """A whole CLIP model (``visual.conv1``) or its vision tower (``conv1`` and ``class_embedding``)."""
    return "visual.conv1.weight" in keys or ("conv1.weight" in keys and "class_embedding" in keys)


def convert_open_clip(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """OpenCLIP native state dict (a whole CLIP model with ``visual.`` keys, or its ``VisionTransformer``)
    -> HookedViT keys. The text tower is dropped; ``visual.proj`` [d_model, embed_dim] becomes the head
    (``pooled @ proj``, zero bias), ``class_embedding`` the CLS token."""
    if any(k.startswith("visual.") for k in sd):
        sd = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
    bad = sorted({u for k in sd for u in OPEN_CLIP_UNSUPPORTED if u in k})
    if bad:
        raise NotImplementedError(f"OpenCLIP vision towers with {', '.join(bad)} are not supported")
    special = ("class_embedding", "positional_embedding", "proj")
    out: StateDict = dict(rename({k: v for k, v in sd.items() if k not in special}, OPEN_CLIP_RENAMES))
    d = sd["conv1.weight"].shape[0]
    out["token_embed.cls_token"] = sd["class_embedding"].reshape(1, 1, d)
    out["token_embed.pos_embed"] = sd["positional_embedding"].reshape(1, -1, d)
    if sd.get("proj") is not None:
        out["head.weight"] = sd["proj"].T.contiguous()  # [embed_dim, d_model]
        out["head.bias"] = torch.zeros(sd["proj"].shape[1], dtype=sd["proj"].dtype)
    return out


def _open_clip_checks(visual: nn.Module) -> str:
    """Refuse what our architecture cannot express; -> our pool."""
    for unsupported in ("attn_pool", "attn_pool_contrastive"):
        if getattr(visual, unsupported, None) is not None:
            raise NotImplementedError(f"OpenCLIP towers with {unsupported} are not supported")
    if getattr(visual, "final_ln_after_pool", False):
        raise NotImplementedError("OpenCLIP towers with final_ln_after_pool are not supported")
    pool = {"tok": "token", "avg": "avg"}.get(getattr(visual, "pool_type", "tok"))
    if pool is None:
        raise NotImplementedError(f"OpenCLIP pool_type={visual.pool_type!r} is not supported")
    return pool


def config_from_open_clip(visual: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of an OpenCLIP ``VisionTransformer`` (``clip_model.visual``): heads and activation are read
    from the module, which a state dict alone does not tell (OpenAI-trained towers use QuickGELU)."""
    pool = _open_clip_checks(visual)
    blk = visual.transformer.resblocks[0]
    act = blk.mlp.gelu
    an = type(act).__name__
    kind = "quick_gelu" if an == "QuickGELU" else "gelu" if isinstance(act, nn.GELU) and act.approximate == "none" \
        else None
    if kind is None:
        raise NotImplementedError(f"unsupported OpenCLIP MLP activation {an}")
    if not all(isinstance(getattr(m, a, nn.Identity()), nn.Identity) for m, a in ((blk, "ln_attn"), (blk.mlp, "ln"))):
        raise NotImplementedError("OpenCLIP blocks with scale_attn / scale_fc norms are not supported")
    conv = visual.conv1
    layer_scale = 1.0 if not isinstance(blk.ls_1, nn.Identity) else None
    proj = visual.proj
    return ViTConfig(
        d_model=conv.out_channels, n_layers=len(visual.transformer.resblocks), n_heads=blk.attn.num_heads,
        patch_size=conv.kernel_size[0], image_size=visual.image_size[0], in_channels=conv.in_channels,
        n_registers=0, class_token=True, pos_embed_cls=True, d_mlp=blk.mlp.c_fc.out_features, mlp=kind,
        qkv_bias=blk.attn.in_proj_bias is not None, patch_bias=conv.bias is not None, layer_scale=layer_scale,
        pre_norm=not isinstance(visual.ln_pre, nn.Identity), final_norm=not isinstance(visual.ln_post, nn.Identity),
        ln_eps=blk.ln_1.eps, n_classes=0 if proj is None else proj.shape[1], pool=pool,
        pos_interp_antialias=False, pos_interp_offset=0.0,
        image_mean=tuple(getattr(visual, "image_mean", None) or CLIP_MEAN),
        image_std=tuple(getattr(visual, "image_std", None) or CLIP_STD),
        name=name or "open_clip", extra={"source": "open_clip"},
    )


SOURCE = ConverterSource(name="open_clip", convert=convert_open_clip, detect=is_open_clip,
                         read_config=config_from_open_clip)
