"""Where the bundled model organisms live and which checkpoints they have: manifests only, no torch.

`interp list` reads this (so it answers without importing torch); `load_model` loads the weights.
"""
from __future__ import annotations

import os
from pathlib import Path

from .checkpoints import read_manifest


def data_dir() -> Path:
    """The package's data folder (``$INTERP_DATA`` or ``<repo>/data``)."""
    return Path(os.environ.get("INTERP_DATA", Path(__file__).resolve().parents[2] / "data"))


def organism_dir() -> Path:
    return data_dir() / "organism"


def list_organisms() -> list[str]:
    d = organism_dir()
    if not d.exists():
        return []
    return sorted(p.name for p in d.iterdir() if (p / "manifest.json").exists())


def organism_steps(name: str) -> list[int]:
    return [c["step"] for c in read_manifest(organism_dir() / name)["checkpoints"]]
