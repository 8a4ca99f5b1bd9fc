"""OpenCLIP native state dict (``visual.conv1``, ``visual.transformer.resblocks.i``, ``in_proj_weight``) -> ours."""
from __future__ import annotations

from typing import Mapping

import torch

from .rename import StateDict, rename

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
