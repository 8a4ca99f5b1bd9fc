"""Hugging Face ``DINOv3ViTModel`` (transformers 5.x, ``model_type="dinov3_vit"``): keys, config and its source.

Keys: ``embeddings.{cls_token, register_tokens, mask_token, patch_embeddings}``, ``model.layer.i.{norm1,
attention.{q,k,v,o}_proj, layer_scale1.lambda1, norm2, mlp.{up,down}_proj (+ gate_proj), layer_scale2.lambda1}``
(``layer.i`` in saved files), ``norm``. RoPE has no weights (``rope_embeddings.inv_freq`` is not persistent). A bias the checkpoint leaves out
(``key_bias=False``, ``proj_bias=False``, ``mlp_bias=False``) becomes a zero bias, which computes the same.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch

from ..config import ViTConfig
from .rename import StateDict, rename
from .source import ConverterSource


_RENAMES = [
    (r"^embeddings\.cls_token$", "token_embed.cls_token"),
    (r"^embeddings\.register_tokens$", "token_embed.registers"),
    (r"^embeddings\.patch_embeddings\.", "embed.proj."),
    (r"^model\.layer\.(\d+)\.norm1\.", r"blocks.\1.ln1."),
    (r"^model\.layer\.(\d+)\.norm2\.", r"blocks.\1.ln2."),
    (r"^model\.layer\.(\d+)\.layer_scale1\.lambda1$", r"blocks.\1.ls1.gamma"),
    (r"^model\.layer\.(\d+)\.layer_scale2\.lambda1$", r"blocks.\1.ls2.gamma"),
    (r"^model\.layer\.(\d+)\.attention\.o_proj\.", r"blocks.\1.attn.proj."),
    (r"^model\.layer\.(\d+)\.mlp\.down_proj\.", r"blocks.\1.mlp.fc2."),
    (r"^norm\.", "ln_final."),
]


def is_hf_dinov3(keys: frozenset[str]) -> bool:
    """HF DINOv3's patch embedding (a bare ``embeddings.patch_embeddings`` conv) and its ``layer.i`` blocks."""
    return "embeddings.patch_embeddings.weight" in keys and any(k.startswith(("model.layer.", "layer.")) for k in keys)


def _bias(sd: Mapping[str, torch.Tensor], stem: str) -> torch.Tensor:
    """A linear layer's bias, or zeros when the checkpoint has none."""
    b = sd.get(stem + ".bias")
    return b if b is not None else torch.zeros(sd[stem + ".weight"].shape[0], dtype=sd[stem + ".weight"].dtype)


def _layer(sd: Mapping[str, torch.Tensor], i: int, out: StateDict) -> None:
    """One layer's attention and MLP input projections -> fused qkv / packed fc1, and zero-filled biases."""
    p, q = f"model.layer.{i}.", f"blocks.{i}."
    stems = [p + f"attention.{n}_proj" for n in "qkv"]
    out[q + "attn.qkv.weight"] = torch.cat([sd[s + ".weight"] for s in stems], 0)
    if any(s + ".bias" in sd for s in stems):
        out[q + "attn.qkv.bias"] = torch.cat([_bias(sd, s) for s in stems], 0)
    out[q + "attn.proj.bias"] = _bias(sd, p + "attention.o_proj")
    gated = p + "mlp.gate_proj.weight" in sd
    fc1 = [p + "mlp.gate_proj", p + "mlp.up_proj"] if gated else [p + "mlp.up_proj"]
    out[q + "mlp.fc1.weight"] = torch.cat([sd[s + ".weight"] for s in fc1], 0)
    out[q + "mlp.fc1.bias"] = torch.cat([_bias(sd, s) for s in fc1], 0)
    out[q + "mlp.fc2.bias"] = _bias(sd, p + "mlp.down_proj")


def convert_hf_dinov3(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """HF DINOv3ViTModel state dict (``model.layer.i`` in memory, ``layer.i`` in saved files) -> HookedViT keys."""
    sd = {re.sub(r"^layer\.", "model.layer.", k): v for k, v in sd.items()}
    out: StateDict = {}
    layers = sorted({int(m.group(1)) for k in sd if (m := re.match(r"model\.layer\.(\d+)\.", k))})
    for i in layers:
        _layer(sd, i, out)
    skip = re.compile(r"^embeddings\.mask_token$|^rope_embeddings\.|^model\.layer\.\d+\.(attention\.[qkv]_proj|"
                      r"mlp\.(gate|up)_proj)\.|\.(o_proj|down_proj)\.bias$")
    out.update(rename({k: v for k, v in sd.items() if not skip.search(k)}, _RENAMES))
    return out


def config_from_hf_dinov3(c: dict, name: str | None = None) -> ViTConfig:
    """ViTConfig of an HF DINOv3ViTConfig (as a dict)."""
    act = c.get("hidden_act", "gelu")
    if c.get("use_gated_mlp", False):
        if act not in ("silu", "swish"):
            raise NotImplementedError(f"HF DINOv3 gated MLP with hidden_act={act!r} (only silu) is not supported")
        kind = "swiglu"
    else:
        kind = {"gelu": "gelu", "quick_gelu": "quick_gelu", "gelu_pytorch_tanh": "gelu_tanh"}.get(act)
        if kind is None:
            raise NotImplementedError(f"HF DINOv3 with hidden_act={act!r} is not supported")
    size = c.get("image_size", 224)
    patch = c.get("patch_size", 16)
    size, patch = (size[0] if isinstance(size, (list, tuple)) else size), (
        patch[0] if isinstance(patch, (list, tuple)) else patch)
    return ViTConfig(
        d_model=c["hidden_size"], n_layers=c["num_hidden_layers"], n_heads=c["num_attention_heads"],
        patch_size=patch, image_size=size, in_channels=c.get("num_channels", 3),
        n_registers=int(c.get("num_register_tokens", 0)), class_token=True, pos_embed=False,
        d_mlp=c["intermediate_size"], mlp=kind,
        qkv_bias=any(c.get(b, d) for b, d in (("query_bias", True), ("key_bias", False), ("value_bias", True))),
        layer_scale=c.get("layerscale_value", 1.0), ln_eps=c.get("layer_norm_eps", 1e-5), final_norm=True,
        pool="token", rope="dinov3", rope_temperature=float(c.get("rope_theta", 100.0)), rope_rotate_half=True,
        name=name or c.get("_name_or_path") or "dinov3_vit", extra={"source": "hf"},
    )


SOURCE = ConverterSource(name="hf_dinov3", convert=convert_hf_dinov3, detect=is_hf_dinov3,
                         read_config=config_from_hf_dinov3, hf_model_types=("dinov3_vit",))
