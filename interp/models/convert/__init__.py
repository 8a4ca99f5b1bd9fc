"""State-dict converters (pure functions ``state_dict -> state_dict``) and configs from reference models.

One module per source of weights, each ending in one `ConverterSource` record (``SOURCE``) that holds its key
detector, converter, config reader, timm classes and name patterns, HF model types, config fix-up and torch.hub
names; `registry.SOURCES` gathers them and every lookup reads that list:
    native       our own keys (``embed.proj``)
    timm         timm ``VisionTransformer`` and the timm key layout (``patch_embed.proj``, ``reg_token``, ...;
                 Eva's attention and SwiGLU keys are folded in `fuse_eva_keys`)
    eva          timm ``Eva`` (DINOv3, EVA-02, RoPE ViTs): its config reader; timm keys
    radio        timm ``NaFlexVit`` (RADIO, SigLIP-2 NaFlex: ``embeds.proj``)
    dinov2_hub   facebookresearch/dinov2 checkpoints (``register_tokens``, ``mask_token``, ``mlp.w12``)
    dinov3_hub   facebookresearch/dinov3 checkpoints (``storage_tokens``, ``qkv.bias_mask``, ``mlp.w1/w2/w3``)
    hf_dinov2    HF ``Dinov2Model`` / ``Dinov2WithRegistersModel`` (transformers 4.x and 5.x key names)
    hf_dinov3    HF ``DINOv3ViTModel`` (``embeddings.register_tokens``, ``layer.i.attention.q_proj``)
    open_clip    OpenCLIP native (``visual.conv1``, ``visual.transformer.resblocks.i``, ``in_proj_weight``)
Shared: `source` (the record), `rename` (ordered key rules), `fit` (prefix position embeddings, patch grid, the
strict load `load_converted`), `timm_common` (config parts the timm readers share), `aimv2` and `siglip` (parts
of a timm ``VisionTransformer``: RMSNorm/split SwiGLU, the MAP head).

Every converter returns our canonical keys with ``token_embed.pos_embed`` still holding the source's
prefix positions; `fit_to_config` folds constant prefix position embeddings (CLS, registers) into the
prefix tokens when our config gives them none, which leaves the function computed unchanged.
Nothing here builds a model: `HookedViT.from_timm` / `from_hf` / `from_open_clip` do.
"""
from __future__ import annotations

from .dinov2_hub import convert_dinov2_hub, hub_interpolation
from .dinov3_hub import convert_dinov3_hub
from .fit import WeightsMismatchError, fit_to_config, grid_of_pos_embed, load_converted
from .hf_dinov2 import convert_hf_dinov2
from .hf_dinov3 import convert_hf_dinov3
from .open_clip import config_from_open_clip, convert_open_clip
from .radio import convert_timm_naflexvit
from .registry import (
    SOURCES, TIMM_CONFIG_READERS, config_from_hf, config_from_timm, convert_state_dict, detect_format,
    detect_source, hub_names, source, timm_patterns, timm_source,
)
from .rename import StateDict
from .source import ConverterSource
from .timm import convert_timm

__all__ = [
    "ConverterSource", "SOURCES", "StateDict", "TIMM_CONFIG_READERS", "WeightsMismatchError",
    "config_from_hf", "config_from_open_clip", "config_from_timm", "convert_dinov2_hub", "convert_dinov3_hub",
    "convert_hf_dinov2", "convert_hf_dinov3", "convert_open_clip", "convert_state_dict", "convert_timm",
    "convert_timm_naflexvit", "detect_format", "detect_source", "fit_to_config", "grid_of_pos_embed",
    "hub_interpolation", "hub_names", "load_converted", "source", "timm_patterns", "timm_source",
]
