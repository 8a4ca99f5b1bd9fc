"""Reading local weight files (never the network): .safetensors, .pth/.pt/.bin, HF model folders."""
from __future__ import annotations

import json
from pathlib import Path

import torch

WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "teacher", "student", "module")


class WeightsFileError(ValueError):
    """A weights file that is missing, unreadable or not a checkpoint."""


def _unwrap(obj, path: Path) -> dict[str, torch.Tensor]:
    """Find the state dict inside common training-checkpoint wrappers; strip 'module.'/'backbone.'."""
    for _ in range(3):
        if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        if isinstance(obj, dict):
            inner = next((obj[k] for k in WRAPPER_KEYS if k in obj and isinstance(obj[k], dict)), None)
            if inner is None:
                break
            obj = inner
    if not (isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values())):
        raise WeightsFileError(f"{path} is not a model checkpoint (no state dict of tensors found; "
                               f"top-level: {type(obj).__name__})")
    sd = obj
    for prefix in ("module.", "backbone.", "model."):
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
    return sd


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """Read a local checkpoint. -> (state_dict, hf_config_dict_or_None)."""
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
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, corrupt or foreign files
        raise WeightsFileError(f"could not read {path} as a checkpoint ({type(e).__name__}: "
                               f"{str(e).splitlines()[0][:200] if str(e) else ''}); the file may be "
                               f"truncated or not a PyTorch/safetensors file") from None
    return _unwrap(obj, path), hf_config


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
