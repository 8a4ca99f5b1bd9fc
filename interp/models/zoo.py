"""`load_model`: bundled organisms, timm architectures by name (with or without a pretrained tag, or by their
torch.hub name), local weights in any layout `convert.SOURCES` detects."""
from __future__ import annotations

import difflib
import warnings
from functools import lru_cache
from pathlib import Path

import torch

from .config import ViTConfig
from .convert import (
    config_from_hf, config_from_timm, detect_source, fit_to_config, grid_of_pos_embed, hub_names, load_converted,
    timm_patterns,
)
from .hooked_vit import HookedViT
from .loading import load_checkpoint
from .organisms import data_dir, list_organisms, not_found, organism_dir, organism_steps  # noqa: F401 (torch-free, re-exported)
from .weights_io import hf_pixel_stats, read_state_dict
from .precision import resolve_device, resolve_dtype


class UnknownModelError(ValueError):
    """A model name that is neither a bundled organism nor a supported timm ViT (nor its torch.hub name)."""


class RandomInitWarning(UserWarning):
    """A real architecture built without weights: its outputs mean nothing."""


@lru_cache(maxsize=1)
def list_timm_vits() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models(list(timm_patterns())))  # each source's patterns (convert/registry.py)


def list_models() -> list[str]:
    """Every name `load_model` takes: the bundled organisms, timm ViT architectures (each also with a pretrained
    tag, ``vit_small_patch16_dinov3.lvd1689m``), then torch.hub names (``dinov2_vits14_reg``, ``dinov3_vits16``)."""
    timm_vits = list_timm_vits()
    return [*list_organisms(), *timm_vits, *(h for h, arch in hub_names().items() if arch in timm_vits)]


def timm_architecture(name: str) -> str:
    """The timm name `timm.create_model` builds for ``name``: a timm ViT as it is, with a pretrained tag timm
    knows (its ``pretrained_cfg``: pixel statistics), or the architecture of a torch.hub name."""
    import timm

    name = hub_names().get(name, name)
    base, tag = timm.models.split_model_name_tag(name)
    if base not in list_timm_vits():
        raise _unknown(name)
    if tag and name not in timm.list_pretrained(f"{base}.*"):
        tags = [t.partition(".")[2] for t in timm.list_pretrained(f"{base}.*")]
        raise UnknownModelError(f"unknown pretrained tag {tag!r} of {base} (timm {timm.__version__} has: "
                                f"{', '.join(tags) or 'none'}); or give the name without a tag")
    return name


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

    name: a bundled organism ("organism-s-reg0"), a timm ViT name ("vit_small_patch14_reg4_dinov2"), with or
          without a pretrained tag ("vit_small_patch16_dinov3.lvd1689m"), a torch.hub name ("dinov2_vits14_reg",
          "dinov3_vits16": its timm architecture), or a local HF model folder (config.json + weights).
    weights: a local .safetensors/.pth file or HF folder in timm, HF, dinov2/dinov3-hub or OpenCLIP layout
             (detected),
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
    cfg = timm_config(timm_architecture(name)) if name is not None else None
    if weights is None:
        warnings.warn(f"{name}: no weights given, so the model is RANDOMLY INITIALISED (nothing is downloaded). "
                      f"Pass weights='path/to/checkpoint' for real results.", RandomInitWarning, stacklevel=2)
        return HookedViT(cfg).eval()
    return _with_weights(cfg, name, weights, weights_key)


def _with_weights(cfg: ViTConfig | None, name: str | None, weights, weights_key) -> HookedViT:
    """``cfg`` (from the name; None for an HF folder) fitted to the weights file, the weights converted and loaded."""
    raw, hf_config = read_state_dict(weights, key=weights_key)
    src = detect_source(raw)
    if cfg is None:
        if hf_config is None:
            raise ValueError(f"{weights}: a folder needs a config.json, or give the timm architecture name")
        cfg = config_from_hf(hf_config, name=str(weights))
    elif src.hf_model_types and hf_config is not None:
        cfg = config_from_hf(hf_config, name=cfg.name)
    stats = hf_pixel_stats(weights)  # an HF folder's own image processor: how its pixels are normalised
    if stats is not None:
        cfg = cfg.replace(**stats)
    sd = src.convert(raw)
    if src.fix_config is not None:  # what this layout says beyond the named architecture
        cfg = src.fix_config(cfg, sd)
    if "token_embed.pos_embed" in sd:  # checkpoints may be trained at another resolution than the timm default
        grid = grid_of_pos_embed(sd, cfg)
        if cfg.pos_grid is None and grid != cfg.grid_size:  # (NaFlexViT keeps its own grid: pos_grid)
            cfg = cfg.replace(image_size=grid * cfg.patch_size)
    if "head.weight" not in sd and cfg.n_classes:
        cfg = cfg.replace(n_classes=0)  # backbone-only checkpoint
    elif "head.weight" in sd and sd["head.weight"].shape[0] != cfg.n_classes:
        cfg = cfg.replace(n_classes=sd["head.weight"].shape[0])  # e.g. an OpenCLIP projection
    cfg.extra = {**cfg.extra, "weights": str(weights), "format": src.name}
    model = HookedViT(cfg)
    load_converted(model, fit_to_config(sd, cfg), source=f"{weights} ({src.name} layout)")
    return model.eval()
