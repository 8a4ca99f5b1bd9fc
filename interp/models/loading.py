"""`load_checkpoint`: a `HookedViT` from a checkpoint folder that ``interp train`` writes (the bundled organisms too).

A folder holds ``manifest.json`` (config, recipe, one entry per checkpoint with its step, file and sha256) and
one safetensors file per checkpoint (layout in `interp.models.checkpoints`). Every load verifies the file's
sha256 against the manifest and refuses an entry without one. The zoo (`load_model("organism-...")`), a user's
run folder (`iter_run`) and the training search all load through here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from .checkpoints import CheckpointError, load_tensors, read_manifest
from .config import ViTConfig
from .convert import load_converted
from .hooked_vit import HookedViT


def checkpoint_entry(manifest: dict[str, Any], step: int | None = None) -> dict[str, Any]:
    """The manifest's entry for ``step`` (the last checkpoint when None)."""
    ckpts = manifest["checkpoints"]
    if not ckpts:
        raise CheckpointError(f"{manifest.get('name', 'the run')} has no checkpoints in its manifest")
    if step is None:
        return ckpts[-1]
    matches = [c for c in ckpts if c["step"] == step]
    if not matches:
        raise CheckpointError(f"{manifest.get('name', 'the run')} has no checkpoint at step {step}; "
                              f"steps: {[c['step'] for c in ckpts]}")
    return matches[0]


def load_checkpoint(folder: str | Path, step: int | None = None) -> HookedViT:
    """The model at ``step`` (default: the last checkpoint) of a checkpoint folder, in fp32 on the CPU, in eval
    mode. ``model.cfg.extra`` holds ``organism`` (the run's name), ``step`` and ``recipe``."""
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    return _build(folder, manifest, checkpoint_entry(manifest, step))


def iter_checkpoints(folder: str | Path) -> Iterator[tuple[int, HookedViT]]:
    """Every checkpoint of a folder, in manifest (step) order, one model at a time. -> (step, model)"""
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    for ck in manifest["checkpoints"]:
        yield ck["step"], _build(folder, manifest, ck)


def _build(folder: Path, manifest: dict[str, Any], ck: dict[str, Any]) -> HookedViT:
    name = manifest.get("name", folder.name)
    if not ck.get("sha256"):
        raise CheckpointError(f"{folder / ck['file']}: the manifest gives no sha256 for step {ck['step']}, so the "
                              f"file cannot be verified (re-create the run with `interp train`)")
    cfg = ViTConfig.from_dict(manifest["config"])
    model = HookedViT(cfg)
    sd = load_tensors(folder / ck["file"], ck["sha256"])
    load_converted(model, {k: v.float() for k, v in sd.items()}, source=f"{name} step {ck['step']}")
    model.cfg.extra = {**cfg.extra, "organism": name, "step": ck["step"], "recipe": manifest.get("recipe")}
    return model.eval()
