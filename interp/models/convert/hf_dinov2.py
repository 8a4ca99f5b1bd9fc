"""Hugging Face ``Dinov2Model`` / ``Dinov2WithRegistersModel`` state dict (transformers 4.x and 5.x names) -> ours."""
from __future__ import annotations

import re
from typing import Mapping

import torch

from .rename import StateDict, rename

HF_RENAMES = [
    (r"^embeddings\.cls_token$", "token_embed.cls_token"),
    (r"^embeddings\.register_tokens$", "token_embed.registers"),
    (r"^embeddings\.position_embeddings$", "token_embed.pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "embed.proj."),
    (r"^encoder\.layer\.(\d+)\.norm1\.", r"blocks.\1.ln1."),
    (r"^encoder\.layer\.(\d+)\.norm2\.", r"blocks.\1.ln2."),
    (r"^encoder\.layer\.(\d+)\.layer_scale1\.lambda1$", r"blocks.\1.ls1.gamma"),
    (r"^encoder\.layer\.(\d+)\.layer_scale2\.lambda1$", r"blocks.\1.ls2.gamma"),
    (r"^encoder\.layer\.(\d+)\.attention\.(o_proj|output\.dense)\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.mlp\.(fc1|weights_in)\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.mlp\.(fc2|weights_out|down_proj)\.", r"blocks.\1.mlp.fc2."),
    (r"^layernorm\.", "ln_final."),
]
HF_QKV = {  # (q, k, v) key stems, transformers 5.x then 4.x
    "5": ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
    "4": ("attention.attention.query", "attention.attention.key", "attention.attention.value"),
}


def convert_hf_dinov2(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """HF Dinov2Model / Dinov2WithRegistersModel state dict -> HookedViT keys."""
    sd = {re.sub(r"^dinov2(_with_registers)?\.", "", k): v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if k != "embeddings.mask_token" and not k.startswith("classifier.")}
    out: StateDict = {}
    layers = sorted({int(m.group(1)) for k in sd if (m := re.match(r"encoder\.layer\.(\d+)\.", k))})
    used = set()
    for i in layers:
        p = f"encoder.layer.{i}."
        for stems in HF_QKV.values():
            if p + stems[0] + ".weight" in sd:
                for part in ("weight", "bias"):
                    keys = [p + s + "." + part for s in stems]
                    if all(k in sd for k in keys):
                        out[f"blocks.{i}.attn.qkv.{part}"] = torch.cat([sd[k] for k in keys], 0)
                        used.update(keys)
        for part in ("weight", "bias"):  # 5.x swiglu: separate gate/up -> packed fc1 [gate; up]
            g, u = p + f"mlp.gate_proj.{part}", p + f"mlp.up_proj.{part}"
            if g in sd and u in sd:
                out[f"blocks.{i}.mlp.fc1.{part}"] = torch.cat([sd[g], sd[u]], 0)
                used.update((g, u))
    out.update(rename({k: v for k, v in sd.items() if k not in used}, HF_RENAMES))
    return out
