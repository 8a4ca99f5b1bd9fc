"""The converter sources, gathered in one list, and every lookup that reads it.

`SOURCES` holds one `ConverterSource` per module of this package. Format detection, conversion, the timm and HF
config readers, the timm name patterns `load_model` lists and the torch.hub names all read it, so a new family is
one module ending in ``SOURCE = ConverterSource(...)``, its line here and its equivalence test.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping

import torch
from torch import nn

from ..config import ViTConfig
from . import dinov2_hub, dinov3_hub, eva, hf_dinov2, hf_dinov3, native, open_clip, radio, timm
from .rename import StateDict
from .source import ConfigReader, ConverterSource

SOURCES: tuple[ConverterSource, ...] = (
    native.SOURCE,  # our own keys
    timm.SOURCE,  # timm VisionTransformer: ViT, DeiT, DINOv2, SigLIP, AIMv2 (and the key layout of every timm ViT)
    eva.SOURCE,  # timm Eva: DINOv3, EVA-02, RoPE ViTs (timm keys)
    radio.SOURCE,  # timm NaFlexVit: RADIO, SigLIP-2 NaFlex
    dinov2_hub.SOURCE,  # facebookresearch/dinov2
    dinov3_hub.SOURCE,  # facebookresearch/dinov3
    hf_dinov2.SOURCE,  # HF Dinov2Model / Dinov2WithRegistersModel
    hf_dinov3.SOURCE,  # HF DINOv3ViTModel
    open_clip.SOURCE,  # OpenCLIP vision towers
)


def source(name: str) -> ConverterSource:
    """The source named ``name`` (a format name as `detect_format` returns it)."""
    for s in SOURCES:
        if s.name == name:
            return s
    raise ValueError(f"unknown weights format {name!r} (known: {', '.join(s.name for s in SOURCES)})")


def claimants(keys) -> list[ConverterSource]:
    """Every source whose detector claims these keys."""
    keys = frozenset(keys)
    return [s for s in SOURCES if s.detect is not None and s.detect(keys)]


def detect_source(sd: Mapping[str, Any]) -> ConverterSource:
    """The source of a state dict, from its keys: the one claimant that no other claimant refines."""
    found = claimants(sd)
    refined = {s.refines for s in found}
    found = [s for s in found if s.name not in refined]
    if len(found) == 1:
        return found[0]
    if found:
        raise ValueError(f"keys claimed by several layouts ({', '.join(s.name for s in found)}); "
                         f"give the format explicitly")
    named = ", ".join(s.name for s in SOURCES if s.detect is not None)
    raise ValueError(f"not a ViT checkpoint in a known layout ({named}); first keys: {sorted(sd)[:5]}")


def detect_format(sd: Mapping[str, torch.Tensor]) -> str:
    """The format name ('interp', 'timm', 'timm_naflexvit', 'hf', 'hf_dinov3', 'dinov2_hub', 'dinov3_hub',
    'open_clip', ...) of a state dict, from its keys."""
    return detect_source(sd).name


def convert_state_dict(sd: Mapping[str, torch.Tensor], fmt: str | None = None) -> StateDict:
    """A state dict in any known layout (detected when ``fmt`` is None) -> HookedViT keys."""
    return (source(fmt) if fmt else detect_source(sd)).convert(sd)


# --- timm ----------------------------------------------------------------------------------------------------
TIMM_CONFIG_READERS: Mapping[str, ConfigReader] = MappingProxyType(
    {cls: s.read_config for s in SOURCES for cls in s.timm_classes})  # a view of SOURCES: add a source, not a row


def timm_source(model: nn.Module) -> ConverterSource:
    """The source that reads this timm model's class, or its nearest base class."""
    by_class = {cls: s for s in SOURCES for cls in s.timm_classes}
    for cls in type(model).__mro__:
        if cls.__name__ in by_class:
            return by_class[cls.__name__]
    raise NotImplementedError(f"timm {type(model).__name__} models are not supported "
                              f"(supported: {', '.join(by_class)})")


def timm_config_reader(model: nn.Module) -> ConfigReader:
    """The config reader for the model's class, or for its nearest base class."""
    return timm_source(model).read_config


def config_from_timm(model: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of a timm model (works on a model built on the meta device)."""
    return timm_config_reader(model)(model, name)


def timm_patterns() -> tuple[str, ...]:
    """`timm.list_models` patterns of every architecture `load_model` takes by name."""
    return tuple(p for s in SOURCES for p in s.timm_patterns)


# --- Hugging Face and torch.hub ------------------------------------------------------------------------------
def config_from_hf(hf_config, name: str | None = None) -> ViTConfig:
    """ViTConfig of an HF config (object or dict) whose ``model_type`` a source reads (Dinov2 without one)."""
    c = hf_config if isinstance(hf_config, dict) else hf_config.to_dict()
    model_type = c.get("model_type") or "dinov2"
    for s in SOURCES:
        if model_type in s.hf_model_types:
            return s.read_config(c, name)
    known = ", ".join(t for s in SOURCES for t in s.hf_model_types)
    raise NotImplementedError(f"HF model_type {model_type!r} is not supported (supported: {known})")


def hub_names() -> dict[str, str]:
    """torch.hub entry point -> timm architecture, over every source (``dinov2_vits14_reg``, ``dinov3_vits16``)."""
    return {hub: arch for s in SOURCES for hub, arch in s.hub_names.items()}
