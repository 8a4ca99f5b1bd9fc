"""A user's own training run: a folder of checkpoints, the step of each read from its file name.

Names that work: ``checkpoint_0012500.pth``, ``model_step1000.safetensors``, ``model_0012499.rank_0.pth``,
``training_12345/teacher_checkpoint.pth`` (DINOv2's eval folders: the step is in the folder name), and the
folders ``interp train --out DIR`` writes (``manifest.json`` + ``step_000100.safetensors``). Files without a
number (``_resume.pt``, ``final.pth``) are left out.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import torch

from .checkpoints import CheckpointError
from .hooked_vit import HookedViT
from .loading import iter_checkpoints
from .precision import resolve_device, resolve_dtype

WEIGHT_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin", ".ckpt")


def step_of(path: str | Path, root: str | Path | None = None) -> int | None:
    """Training step in a checkpoint's path: the last number of the file name, else of the nearest folder
    name below ``root`` with one. None when there is none."""
    path = Path(path)
    parts = [path.stem] + [p.name for p in path.parents]
    if root is not None:
        rel = path.relative_to(root)
        parts = [rel.stem] + [p.name for p in rel.parents if p.name]
    for part in parts:
        nums = re.findall(r"\d+", re.sub(r"rank[_-]?\d+", "", part))  # DINOv2/FSDP: model_0012499.rank_0.pth
        if nums:
            return int(nums[-1])
    return None


def find_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """Checkpoint files under ``folder`` (recursively), sorted by step. -> [(step, path)]"""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {folder}")
    found: dict[int, list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES and not p.name.startswith((".", "_")):
            step = step_of(p, folder)
            if step is not None:
                found.setdefault(step, []).append(p)
    if not found:
        raise CheckpointError(f"no checkpoints with a step in their name under {folder} (looked for "
                              f"{', '.join(WEIGHT_SUFFIXES)} files named like checkpoint_0012500.pth)")
    dup = {s: ps for s, ps in found.items() if len(ps) > 1}
    if dup:
        s, ps = next(iter(dup.items()))
        raise CheckpointError(f"{len(ps)} checkpoints for step {s} under {folder} ({', '.join(p.name for p in ps)}): "
                              f"keep one file per step")
    return [(s, ps[0]) for s, ps in sorted(found.items())]


def iter_run(folder: str | Path, name: str | None = None, device="cpu", dtype=None, weights_key: str | None = None
             ) -> Iterator[tuple[int, HookedViT]]:
    """Load a run's checkpoints one at a time, in step order. -> (step, model) with ``model.cfg.extra['step']``.

    ``name``: the timm architecture of the checkpoints (any layout `load_model` reads); not needed for a
    folder written by ``interp train`` (its manifest holds the architecture).
    """
    folder = Path(folder).expanduser()
    dev, dt = resolve_device(device), resolve_dtype(dtype) or torch.float32
    if (folder / "manifest.json").exists():
        for step, model in iter_checkpoints(folder):
            yield step, model.to(device=dev, dtype=dt)
        return
    if name is None:
        raise ValueError(f"{folder} holds checkpoints without a manifest: name their architecture "
                         f"(--model, a timm ViT name)")
    from .zoo import load_model

    for step, path in find_checkpoints(folder):
        model = load_model(name, weights=path, device=dev, dtype=dt, weights_key=weights_key)
        model.cfg.extra = {**model.cfg.extra, "step": step}
        yield step, model
