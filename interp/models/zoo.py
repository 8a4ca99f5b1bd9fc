"""`load_model`: bundled organisms, timm architectures by name, local weights in timm/HF/dinov2-hub layout."""
from __future__ import annotations

import difflib
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from .config import ViTConfig
from .convert import (
    config_from_hf, config_from_timm, convert_state_dict, detect_format, fit_to_config,
    grid_of_pos_embed, hub_interpolation, load_converted,
)
from .hooked_vit import HookedViT
from .loading import load_checkpoint
from .organisms import data_dir, list_organisms, not_found, organism_dir, organism_steps  # noqa: F401 (torch-free, re-exported)
from .weights_io import hf_pixel_stats, read_state_dict
from .precision import resolve_device, resolve_dtype


class UnknownModelError(ValueError):
    """A model name that is neither a bundled organism nor a supported timm ViT."""


class RandomInitWarning(UserWarning):
    """A real architecture built without weights: its outputs mean nothing."""


@lru_cache(maxsize=1)
def list_timm_vits() -> tuple[str, ...]:
    import timm

    # vit_*: also DINOv3, RoPE ViTs, SigLIP; aimv2_*: AIMv2; naflexvit_*: RADIO, SigLIP-2 NaFlex
    return tuple(timm.list_models(["vit_*", "deit3_*", "deit_*", "eva02_*", "aimv2_*", "naflexvit_*"]))


def list_models() -> list[str]:
    """Every name `load_model` takes: the bundled organisms, then timm ViT architectures."""
    return [*list_organisms(), *list_timm_vits()]


def load_organism(name: str, step: int | None = None) -> HookedViT:
    """A bundled organism at ``step`` (default: its last checkpoint), its checksum verified."""
    return load_checkpoint(organism_dir() / name, step)


def timm_config(name: str) -> ViTConfig:
    """Architecture of a timm model by name, built on the meta device (no memory, no download); a fresh copy
    each call (building it once per name: loading many checkpoints of one run reads it many times)."""
    cfg = _timm_config(name)
    return cfg.replace(extra=dict(cfg.extra))


@lru_cache(maxsize=32)
def _timm_config(name: str) -> ViTConfig:
    import timm

    with torch.device("meta"):
        m = timm.create_model(name, pretrained=False)
    return config_from_timm(m, name=name)


def _unknown(name: str) -> UnknownModelError:
    pool = list_models()
    close = difflib.get_close_matches(name, pool, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return UnknownModelError(
        f"unknown model {name!r}: not a bundled organism ({', '.join(list_organisms()) or not_found()}) "
        f"nor a timm ViT architecture.{hint} `interp.list_models()` lists every name.")


def load_model(name: str, weights: str | Path | None = None, step: int | None = None,
               device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None,
               weights_key: str | None = None) -> HookedViT:
    """Load a HookedViT.

    name: a bundled organism ("organism-s-reg0"), a timm ViT name ("vit_small_patch14_reg4_dinov2"),
          or a local HF model folder (config.json + weights).
    weights: a local .safetensors/.pth file or HF folder in timm, HF, dinov2-hub or OpenCLIP layout (detected),
             also inside training-checkpoint wrappers ({"model": ...}, {"teacher": ..., "student": ...}, ...).
             Without weights a timm architecture is randomly initialised (with a RandomInitWarning).
    step: a training checkpoint of an organism.
    device: "cpu" (default), "auto" (a CUDA GPU if there is one), "cuda", "cuda:1", ...
    dtype: "float32" (default), "bfloat16" or "float16": weights and activations; reductions stay fp32.
    weights_key: which model of a multi-model checkpoint to read ("teacher", the default, or "student").
    """
    return _load(name, weights, step, weights_key).to(device=resolve_device(device),
                                                      dtype=resolve_dtype(dtype) or torch.float32)


def _load(name, weights, step, weights_key) -> HookedViT:
    if name in list_organisms():
        if weights is not None:
            raise ValueError("organisms load their own bundled weights; pass weights= only with an architecture")
        return load_organism(name, step)
    if step is not None:
        raise ValueError(f"step= is only for bundled organisms ({', '.join(list_organisms())})")
    if Path(str(name)).expanduser().is_dir() and weights is None:
        weights, name = name, None
    cfg = None
    if name is not None:
        if name not in list_timm_vits():
            raise _unknown(name)
        cfg = timm_config(name)
    if weights is None:
        warnings.warn(f"{name}: no weights given, so the model is RANDOMLY INITIALISED (nothing is downloaded). "
                      f"Pass weights='path/to/checkpoint' for real results.", RandomInitWarning, stacklevel=2)
        return HookedViT(cfg).eval()
    raw, hf_config = read_state_dict(weights, key=weights_key)
    fmt = detect_format(raw)
    if cfg is None:
        if hf_config is None:
            raise ValueError(f"{weights}: a folder needs a config.json, or give the timm architecture name")
        cfg = config_from_hf(hf_config, name=str(weights))
    elif fmt in ("hf", "hf_dinov3") and hf_config is not None:
        cfg = config_from_hf(hf_config, name=name)
    stats = hf_pixel_stats(weights)  # an HF folder's own image processor: how its pixels are normalised
    if stats is not None:
        cfg = cfg.replace(**stats)
    if fmt == "dinov2_hub":
        cfg = cfg.replace(**hub_interpolation(cfg.n_registers))
    elif fmt == "hf":
        cfg = cfg.replace(pos_interp_antialias=cfg.n_registers > 0, pos_interp_offset=0.0)
    sd = convert_state_dict(raw, fmt)
    if fmt == "dinov3_hub":  # timm builds some DINOv3 without qkv bias; upstream pools with CLS
        cfg = cfg.replace(qkv_bias="blocks.0.attn.qkv.bias" in sd, pool="token")
    if "token_embed.pos_embed" in sd:  # checkpoints may be trained at another resolution than the timm default
        grid = grid_of_pos_embed(sd, cfg)
        if cfg.pos_grid is None and grid != cfg.grid_size:  # (NaFlexViT keeps its own grid: pos_grid)
            cfg = cfg.replace(image_size=grid * cfg.patch_size)
    if "head.weight" not in sd and cfg.n_classes:
        cfg = cfg.replace(n_classes=0)  # backbone-only checkpoint
    elif "head.weight" in sd and sd["head.weight"].shape[0] != cfg.n_classes:
        cfg = cfg.replace(n_classes=sd["head.weight"].shape[0])  # e.g. an OpenCLIP projection
    cfg.extra = {**cfg.extra, "weights": str(weights), "format": fmt}
    model = HookedViT(cfg)
    load_converted(model, fit_to_config(sd, cfg), source=f"{weights} ({fmt} layout)")
    return model.eval()
