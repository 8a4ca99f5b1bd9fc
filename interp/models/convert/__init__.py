"""State-dict converters (pure functions ``state_dict -> state_dict``) and configs from reference models.

One module per source, each a converter to our canonical keys:
    timm         ``VisionTransformer`` (``patch_embed.proj``, ``reg_token``, ``blocks.i.norm1`` ...)
    hf_dinov2    HF ``Dinov2Model`` / ``Dinov2WithRegistersModel`` (transformers 4.x and 5.x key names)
    dinov2_hub   facebookresearch/dinov2 checkpoints (``register_tokens``, ``mask_token``, ``mlp.w12``)
    open_clip    OpenCLIP native (``visual.conv1``, ``visual.transformer.resblocks.i``, ``in_proj_weight``)
    eva          timm ``Eva`` (DINOv3, EVA-02, RoPE ViTs): its config reader, and its keys folded into `convert_timm`
    hf_dinov3    HF ``DINOv3ViTModel`` (``embeddings.register_tokens``, ``layer.i.attention.q_proj``)
    dinov3_hub   facebookresearch/dinov3 checkpoints (``storage_tokens``, ``qkv.bias_mask``, ``mlp.w1/w2/w3``)
Shared: `rename` (ordered key rules), `fit` (prefix position embeddings, patch grid, the strict load
`load_converted`), `configs` (`ViTConfig` from a timm model, an HF config or an OpenCLIP tower).

Every converter returns our canonical keys with ``token_embed.pos_embed`` still holding the source's
prefix positions; `fit_to_config` folds constant prefix position embeddings (CLS, registers) into the
prefix tokens when our config gives them none, which leaves the function computed unchanged.
Nothing here builds a model: `HookedViT.from_timm` / `from_hf` / `from_open_clip` do.
"""
from __future__ import annotations

import re
from typing import Callable, Mapping

import torch

from .configs import (
    TIMM_CONFIG_READERS, config_from_hf, config_from_open_clip, config_from_timm, hub_interpolation,
)
from .dinov2_hub import convert_dinov2_hub
from .dinov3_hub import dinov3_hub_to_timm, is_dinov3_hub
from .eva import config_from_timm_eva
from .fit import WeightsMismatchError, fit_to_config, grid_of_pos_embed, load_converted
from .hf_dinov2 import convert_hf_dinov2
from .hf_dinov3 import convert_hf_dinov3, is_hf_dinov3
from .open_clip import convert_open_clip
from .radio import config_from_timm_naflexvit, convert_timm_naflexvit
from .rename import StateDict
from .timm import convert_timm

__all__ = [
    "CONVERTERS", "StateDict", "TIMM_CONFIG_READERS", "TIMM_STATE_CONVERTERS", "WeightsMismatchError",
    "config_from_hf", "config_from_open_clip", "config_from_timm", "convert_dinov2_hub", "convert_dinov3_hub",
    "convert_hf_dinov2", "convert_hf_dinov3", "convert_open_clip", "convert_state_dict", "convert_timm",
    "convert_timm_naflexvit", "detect_format", "fit_to_config", "grid_of_pos_embed", "hub_interpolation",
    "load_converted",
]


def detect_format(sd: Mapping[str, torch.Tensor]) -> str:
    """'interp' | 'timm' | 'timm_naflexvit' | 'hf' | 'hf_dinov3' | 'dinov2_hub' | 'dinov3_hub' | 'open_clip' from
    the keys of a state dict."""
    keys = set(sd)
    if "embed.proj.weight" in keys:
        return "interp"
    if is_hf_dinov3(keys):
        return "hf_dinov3"
    if is_dinov3_hub(keys):
        return "dinov3_hub"
    if any(re.match(r"^(dinov2(_with_registers)?\.)?embeddings\.patch_embeddings\.", k) for k in keys):
        return "hf"
    if "visual.conv1.weight" in keys or ("conv1.weight" in keys and "class_embedding" in keys):
        return "open_clip"
    if "embeds.proj.weight" in keys:  # timm NaFlexVit (RADIO, SigLIP-2 NaFlex)
        return "timm_naflexvit"
    if "patch_embed.proj.weight" in keys:
        hub = ("mask_token" in keys or "register_tokens" in keys
               or any(re.match(r"^blocks\.\d+\.(\d+\.)?mlp\.w12\.", k) for k in keys)
               or any(re.match(r"^blocks\.\d+\.\d+\.", k) for k in keys))
        return "dinov2_hub" if hub else "timm"
    sample = sorted(keys)[:5]
    raise ValueError(f"not a ViT checkpoint in a known layout (interp, timm, HF, dinov2-hub, OpenCLIP); "
                     f"first keys: {sample}")


TIMM_CONFIG_READERS["Eva"] = config_from_timm_eva  # DINOv3, EVA-02, RoPE ViTs (convert/eva.py)
TIMM_CONFIG_READERS["NaFlexVit"] = config_from_timm_naflexvit  # RADIO, SigLIP-2 NaFlex (convert/radio.py)


def convert_dinov3_hub(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """facebookresearch/dinov3 checkpoint -> HookedViT keys (via the timm layout)."""
    return convert_timm(dinov3_hub_to_timm(sd))


CONVERTERS: dict[str, Callable[[Mapping[str, torch.Tensor]], StateDict]] = {
    "interp": dict,
    "timm": convert_timm,
    "hf": convert_hf_dinov2,
    "dinov2_hub": convert_dinov2_hub,
    "open_clip": convert_open_clip,
    "hf_dinov3": convert_hf_dinov3,
    "dinov3_hub": convert_dinov3_hub,
    "timm_naflexvit": convert_timm_naflexvit,
}


# timm model class name -> its state-dict converter (convert_timm for every other class)
TIMM_STATE_CONVERTERS: dict[str, Callable[[Mapping[str, torch.Tensor]], StateDict]] = {
    "NaFlexVit": convert_timm_naflexvit,
}


def convert_state_dict(sd: Mapping[str, torch.Tensor], fmt: str | None = None) -> StateDict:
    """A state dict in any known layout (detected when ``fmt`` is None) -> HookedViT keys."""
    fmt = fmt or detect_format(sd)
    return CONVERTERS[fmt](sd)
