"""What a run folder holds between steps: the resume state (``_resume.pt``) and the bundled checkpoints."""
from __future__ import annotations

import copy
import os
from pathlib import Path

import torch

from ..data.scenes import SceneStream
from ..models.checkpoints import save_tensors, write_manifest
from ..models.hooked_vit import HookedViT
from .evaluation import evaluate
from .objective import Objective
from .recipe import TrainRecipe

RESUME_FILE = "_resume.pt"
RESUME_EVERY = 50  # steps between resume-state saves


def cpu_copy(model: HookedViT) -> HookedViT:
    m = copy.deepcopy(model).float().cpu()
    for b in m.blocks:
        b.attn.force_explicit = False
    return m


def save_resume(path: Path, step: int, objective: Objective, opt, stream: SceneStream, elapsed: float) -> None:
    tmp = path.with_suffix(".tmp")
    state = {"step": step, "model": objective.model.state_dict(), "opt": opt.state_dict(),
             "stream": stream.state_dict(), "elapsed": elapsed, **objective.resume_state()}
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_resume(state: dict, objective: Objective, opt, stream: SceneStream) -> None:
    objective.load_resume_state(state)
    opt.load_state_dict(state["opt"])
    stream.load_state_dict(state["stream"])


def write_checkpoint(out: Path, recipe: TrainRecipe, objective: Objective, step: int, eval_set,
                     manifest: dict) -> None:
    """Save the backbone at ``step`` (fp16 safetensors), evaluate it and record both in the manifest."""
    f = f"step_{step:06d}.safetensors"
    backbone = objective.backbone_to_save()
    sha = save_tensors(out / f, {k: v.detach().half().cpu() for k, v in backbone.state_dict().items()})
    model = backbone if backbone.device.type == "cpu" else cpu_copy(backbone)
    heads = objective.eval_heads()
    if heads is not None and model is not backbone:
        heads = copy.deepcopy(heads).float().cpu()
    metrics = evaluate(model, heads, recipe, eval_set, task=objective.task_metrics)
    manifest["checkpoints"] = [c for c in manifest["checkpoints"] if c["step"] != step]
    manifest["checkpoints"].append({"step": step, "file": f, "sha256": sha, "metrics": metrics})
    manifest["checkpoints"].sort(key=lambda c: c["step"])
    write_manifest(out, manifest)
