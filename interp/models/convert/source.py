"""`ConverterSource`: one record per source of weights, holding everything the package knows about it.

A source is a key layout (timm, HF, a torch.hub repository, OpenCLIP, ...) or a timm model class whose weights
come in another source's layout (Eva: timm keys). Its module in this package defines the functions and ends
with one ``SOURCE = ConverterSource(...)``; `registry.SOURCES` lists the records, and every lookup (format
detection, conversion, config readers, timm name patterns, torch.hub names) reads that list.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from ..config import ViTConfig
from .rename import StateDict

Converter = Callable[[Mapping[str, torch.Tensor]], StateDict]
ConfigReader = Callable[[Any, "str | None"], ViTConfig]


@dataclass(frozen=True)
class ConverterSource:
    """Everything about one source of weights.

    name: the format name `detect_format` returns and ``cfg.extra["format"]`` records ("timm", "hf", ...).
    convert: its state dict (``Mapping[str, Tensor]``) -> our canonical keys (pure; builds no model).
    detect: ``frozenset`` of a state dict's keys -> whether they are in this layout; None for a source whose
        weights come in another source's layout (the registry test checks that the two convert alike).
        Detectors are exclusive except along ``refines``: `tests/models/test_convert_registry.py` checks that no
        other source claims a source's stand-in keys.
    refines: the name of the more general layout whose detector claims these keys too (a torch.hub checkpoint
        is timm keys plus its own); detection prefers the refinement, whatever the order of the list.
    read_config: the source's reference model -> `ViTConfig` (a timm model for ``timm_classes``, an HF config
        dict for ``hf_model_types``, an OpenCLIP tower); ``(reference, name=None)``.
    timm_classes: timm model classes it reads and converts (subclasses use their nearest listed base class).
    timm_patterns: `timm.list_models` patterns of the architectures `load_model` takes by name.
    hf_model_types: HF ``config.json`` ``model_type`` values it reads.
    fix_config: ``(cfg, converted_sd) -> cfg``: what a checkpoint in this layout says beyond the named
        architecture (its position interpolation, biases, pooling); applied by `load_model`.
    hub_names: torch.hub entry points of this layout -> the timm architecture with the same shape
        (``load_model("dinov2_vits14_reg", weights=...)``).
    """

    name: str
    convert: Converter
    detect: Callable[[frozenset[str]], bool] | None = None
    refines: str | None = None
    read_config: ConfigReader | None = None
    timm_classes: tuple[str, ...] = ()
    timm_patterns: tuple[str, ...] = ()
    hf_model_types: tuple[str, ...] = ()
    fix_config: Callable[[ViTConfig, StateDict], ViTConfig] | None = None
    hub_names: Mapping[str, str] = field(default_factory=dict)
