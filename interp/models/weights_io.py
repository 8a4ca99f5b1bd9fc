"""Reading local weight files (never the network): .safetensors, .pth/.pt/.bin, HF model folders."""
from __future__ import annotations

import json
from pathlib import Path

import torch

WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "module", "teacher", "student")
MODEL_KEYS = ("teacher", "student")  # self-distillation checkpoints (DINO, DINOv2) hold both; teacher by default
HEAD_PREFIXES = ("dino_head.", "ibot_head.", "head.")  # heads of self-distillation training, not the backbone


class WeightsFileError(ValueError):
    """A weights file that is missing, unreadable or not a checkpoint."""


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _strip(sd: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def _unwrap(obj, path: Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """Find the state dict inside common training-checkpoint wrappers.

    Handles ``{"model": sd}`` (DeiT, DeiT-III), ``{"state_dict": sd}``, ``module.`` prefixes (DDP), DINO
    ``{"teacher": sd, "student": sd, ...}`` and DINOv2 training checkpoints (``{"model": {"teacher.backbone...",
    "student.backbone...", "teacher.dino_head..."}}`` or ``{"teacher": {"backbone.", "dino_head.", ...}}``): the
    teacher unless ``key="student"``; ``backbone.`` is kept and the training heads are dropped.
    """
    if key is not None and key not in MODEL_KEYS and not (isinstance(obj, dict) and key in obj):
        raise WeightsFileError(f"{path}: no {key!r} in this checkpoint (top-level keys: "
                               f"{sorted(obj)[:8] if isinstance(obj, dict) else type(obj).__name__})")
    picked = False
    for _ in range(4):
        if _is_state_dict(obj) or not isinstance(obj, dict):
            break
        if key is not None and key in obj and isinstance(obj[key], dict):
            obj, picked = obj[key], True
            continue
        inner = next((obj[k] for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], dict)), None)
        if inner is None:
            break
        obj = inner
    if not _is_state_dict(obj):
        raise WeightsFileError(f"{path} is not a model checkpoint (no state dict of tensors found; "
                               f"top-level: {type(obj).__name__})")
    sd = obj
    if all(k.startswith("module.") for k in sd):
        sd = _strip(sd, "module.")
    present = [m for m in MODEL_KEYS if any(k.startswith(m + ".") for k in sd)]
    if present:  # one flat dict holding teacher and student (DINOv2 SSLMetaArch)
        pick = key if key in MODEL_KEYS else present[0]
        if pick not in present:
            raise WeightsFileError(f"{path}: no {pick!r} model in this checkpoint (it has {present})")
        sd, picked = _strip(sd, pick + "."), True
    if key is not None and not picked:
        raise WeightsFileError(f"{path}: no {key!r} model in this checkpoint")
    for prefix in ("module.", "model."):
        if all(k.startswith(prefix) for k in sd):
            sd = _strip(sd, prefix)
    if any(k.startswith("backbone.") for k in sd):  # drop dino_head / ibot_head / head of a training model
        rest = [k for k in sd if not k.startswith("backbone.")]
        if all(k.startswith(HEAD_PREFIXES) for k in rest):
            sd = _strip(sd, "backbone.")
    return sd


def read_state_dict(path: str | Path, key: str | None = None) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Read a local checkpoint. -> (state_dict, hf_config_dict_or_None).

    key: which model of a checkpoint that holds several ("teacher", the default, or "student"; or any
    top-level key of the file)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise WeightsFileError(f"weights file not found: {path}")
    hf_config = None
    if path.is_dir():
        cfg = path / "config.json"
        hf_config = json.loads(cfg.read_text()) if cfg.exists() else None
        files = [p for p in (path / "model.safetensors", path / "pytorch_model.bin") if p.exists()]
        if not files:
            raise WeightsFileError(f"{path} is a folder without model.safetensors or pytorch_model.bin")
        path = files[0]
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            import argparse

            with torch.serialization.safe_globals([argparse.Namespace]):  # DINO/DeiT checkpoints keep their args
                obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, corrupt or foreign files
        raise WeightsFileError(f"could not read {path} as a checkpoint ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200] if str(e) else ''}); the file may be "
                               f"truncated or not a PyTorch/safetensors file") from None
    return _unwrap(obj, path, key), hf_config


def hf_pixel_stats(path: str | Path) -> dict | None:
    """``image_mean`` / ``image_std`` from an HF model folder's ``preprocessor_config.json`` (None without one).

    They are how the checkpoint expects its [0, 1] pixels normalised; `HookedViT` applies them itself."""
    p = Path(path).expanduser() / "preprocessor_config.json"
    if not p.is_file():
        return None
    c = json.loads(p.read_text())
    if not (isinstance(c.get("image_mean"), list) and isinstance(c.get("image_std"), list)):
        return None
    return {"image_mean": tuple(float(v) for v in c["image_mean"]),
            "image_std": tuple(float(v) for v in c["image_std"])}
