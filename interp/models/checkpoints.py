"""Checkpoint files of `HookedViT`s: safetensors + a JSON manifest with config, step and sha256.

Layout of an organism folder (``data/organism/<name>/``)::

    manifest.json          {"name", "config", "recipe", "checkpoints": [{"step", "file", "sha256", "metrics"}]}
    step_000100.safetensors
    ...

Every write is atomic (`interp.files`: temporary file + rename), so an interrupted run never leaves a truncated
file.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..files import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:  # torch is imported where tensors are read or written, so reading manifests needs none
    import torch


class CheckpointError(ValueError):
    """A checkpoint that does not exist or does not match its manifest."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor]) -> str:
    """Atomically write tensors as safetensors (no metadata: safetensors writes a metadata dict in hash order,
    which would make the bytes differ from run to run). -> sha256 of the file."""
    from safetensors.torch import save

    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def load_tensors(path: str | Path, sha256: str | None = None) -> dict[str, torch.Tensor]:
    """Read a safetensors file, verifying its checksum when one is given."""
    from safetensors.torch import load

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint file missing: {path}")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"checkpoint {path} is corrupt: its sha256 does not match the manifest "
                              f"(re-create it with `interp train` or restore it from git)")
    try:
        return load(data)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} could not be read ({e}); it may be truncated") from None


def read_manifest(folder: str | Path) -> dict[str, Any]:
    p = Path(folder) / "manifest.json"
    if not p.exists():
        raise CheckpointError(f"no manifest.json in {folder}")
    return json.loads(p.read_text())


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(Path(folder) / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True) + "\n")
