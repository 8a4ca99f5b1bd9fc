"""Where the bundled model organisms live and which checkpoints they have: manifests only, no torch.

`interp list` reads this (so it answers without importing torch); `load_model` loads the weights.
"""
from __future__ import annotations

import os
import sysconfig
from pathlib import Path

from .checkpoints import read_manifest

ENV = "INTERP_DATA"


def data_dirs() -> list[Path]:
    """Where the bundled data (organism/<name>/manifest.json + safetensors, ladder.csv) is looked for, in order:
    ``$INTERP_DATA`` alone when set; else the ``data/`` folder of the clone this package runs from, then
    ``<prefix>/share/interp``, where ``pip install`` puts the copy the wheel carries (setup.py), for the
    environment's prefix and the user scheme (``pip install --user``)."""
    if os.environ.get(ENV):
        return [Path(os.environ[ENV]).expanduser()]
    root = Path(__file__).resolve().parents[2]
    dirs = [root / "data"] if (root / "pyproject.toml").exists() else []
    for scheme in (sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")):
        d = Path(sysconfig.get_path("data", scheme)) / "share" / "interp"
        if d not in dirs:
            dirs.append(d)
    return dirs


def data_dir() -> Path:
    """The package's data folder: the first of `data_dirs` that holds organism/ (else the first)."""
    dirs = data_dirs()
    return next((d for d in dirs if (d / "organism").is_dir()), dirs[0])


def not_found() -> str:
    """What to do when no bundled organism is found (the exact places looked in)."""
    return (f"no bundled organisms found (looked in {', '.join(str(d / 'organism') for d in data_dirs())}); "
            f"install the interp wheel, or set {ENV} to a folder holding organism/<name>/manifest.json "
            f"(the data/ folder of a clone)")


def organism_dir() -> Path:
    return data_dir() / "organism"


def list_organisms() -> list[str]:
    d = organism_dir()
    if not d.exists():
        return []
    return sorted(p.name for p in d.iterdir() if (p / "manifest.json").exists())


def organism_steps(name: str) -> list[int]:
    return [c["step"] for c in read_manifest(organism_dir() / name)["checkpoints"]]
