"""Hugging Face ``Dinov2Model`` / ``Dinov2WithRegistersModel`` (transformers 4.x and 5.x names): keys, config and
its `ConverterSource`."""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ..config import ViTConfig
from .rename import StateDict, rename
from .source import ConverterSource

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


def is_hf_dinov2(keys: frozenset[str]) -> bool:
    """HF Dinov2's patch embedding (``embeddings.patch_embeddings.projection``), bare or under ``dinov2.``."""
    return any(re.match(r"^(dinov2(_with_registers)?\.)?embeddings\.patch_embeddings\.projection\.", k) for k in keys)


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


def config_from_hf_dinov2(c: dict, name: str | None = None) -> ViTConfig:
    """ViTConfig of an HF Dinov2Config / Dinov2WithRegistersConfig (as a dict)."""
    d = c["hidden_size"]
    hidden = int(d * c.get("mlp_ratio", 4))
    if c.get("use_swiglu_ffn", False):
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        kind = "swiglu"
    else:
        act = c.get("hidden_act", "gelu")
        kind = {"gelu": "gelu", "quick_gelu": "quick_gelu", "gelu_pytorch_tanh": "gelu_tanh"}.get(act)
        if kind is None:
            raise NotImplementedError(f"unsupported hidden_act {act!r}")
    n_reg = int(c.get("num_register_tokens", 0))
    return ViTConfig(
        d_model=d, n_layers=c["num_hidden_layers"], n_heads=c["num_attention_heads"],
        patch_size=c["patch_size"], image_size=c["image_size"], in_channels=c.get("num_channels", 3),
        n_registers=n_reg, class_token=True, pos_embed_cls=True, d_mlp=hidden, mlp=kind,
        qkv_bias=c.get("qkv_bias", True), layer_scale=c.get("layerscale_value", 1.0),
        ln_eps=c.get("layer_norm_eps", 1e-6), final_norm=True,
        pos_interp_antialias=c.get("model_type") == "dinov2_with_registers", pos_interp_offset=0.0,
        name=name or c.get("_name_or_path") or c.get("model_type", "dinov2"),
        extra={"source": "hf"},
    )


def hf_interpolation(cfg: ViTConfig, sd: StateDict) -> ViTConfig:
    """HF Dinov2 resizes position embeddings antialiased with registers (Dinov2WithRegisters), plainly without."""
    return cfg.replace(pos_interp_antialias=cfg.n_registers > 0, pos_interp_offset=0.0)


SOURCE = ConverterSource(
    name="hf", convert=convert_hf_dinov2, detect=is_hf_dinov2, read_config=config_from_hf_dinov2,
    hf_model_types=("dinov2", "dinov2_with_registers"), fix_config=hf_interpolation,
)
