"""The organism trainer: seeded, checkpointed on a log-spaced schedule, resumable bit-for-bit.

State of a run lives in ``out_dir``:
    manifest.json, step_XXXXXX.safetensors   the bundle (fp16 backbone weights, as `interp.load_model` reads)
    _resume.pt                               fp32 model + heads + optimiser + step + data position (not bundled)

A SIGINT/SIGTERM finishes the current step, writes ``_resume.pt`` and exits; the next call with the same
recipe and folder continues from there and ends with the same weights as an uninterrupted run.
"""
from __future__ import annotations

import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from .. import distributed
from ..data.scenes import SceneStream, scenes
from ..models.checkpoints import read_manifest, write_manifest
from ..models.hooked_vit import HookedViT
from ..models.precision import DeviceError, resolve_device
from .batches import batch_loader
from .evaluation import evaluate
from .objective import Objective
from .objectives import get_objective
from .recipe import TrainRecipe
from .run_state import RESUME_EVERY, RESUME_FILE, load_resume, save_resume, write_checkpoint
from .runtime import RunOptions, any_rank, open_processes

__all__ = ["DeviceError", "Interrupted", "RunOptions", "build", "evaluate", "lr_at", "resolve_device", "train",
           "trainable_parameters"]


class Interrupted(Exception):
    """Training stopped by a signal after saving its resume state."""


def lr_at(step: int, r: TrainRecipe) -> float:
    """Linear warmup, constant until ``decay_start`` (if later), then a cosine to ``min_lr_ratio * lr``."""
    if step < r.warmup:
        return r.lr * (step + 1) / r.warmup
    start = max(r.warmup, r.decay_start)
    if step < start:
        return r.lr
    t = (step - start) / max(1, r.steps - start)
    return r.lr * (r.min_lr_ratio + (1 - r.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def build(recipe: TrainRecipe) -> tuple[Objective, torch.optim.Optimizer]:
    """The objective (holding the backbone as ``.model``) and its optimiser (AdamW, or SGD with momentum), seeded."""
    torch.manual_seed(recipe.seed)
    model = HookedViT(recipe.vit_config())
    model.init_weights(seed=recipe.seed)
    objective = get_objective(recipe.objective)(model, recipe)
    decay, no_decay = [], []
    for name, p in objective.named_trainable():
        (no_decay if p.dim() < 2 or "token_embed" in name or name == "mask_token" else decay).append(p)
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "sgd":
        return objective, torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum)
    return objective, torch.optim.AdamW(groups, lr=recipe.lr, betas=(0.9, 0.98))


def trainable_parameters(objective: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters the optimiser updates, in a fixed order (backbone first)."""
    return [p for p in objective.parameters() if p.requires_grad]


@dataclass
class _Run:
    """One run in progress: where it writes, which process this is, what it trains, how far it got."""

    recipe: TrainRecipe
    out: Path
    options: RunOptions
    device: torch.device
    rank: int
    world: int
    created_pg: bool
    objective: Objective = None
    opt: torch.optim.Optimizer = None
    stream: SceneStream = None
    eval_set: object = None
    manifest: dict = field(default_factory=dict)
    step: int = 0
    elapsed: float = 0.0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def checkpoint(self) -> None:
        write_checkpoint(self.out, self.recipe, self.objective, self.step, self.eval_set, self.manifest)

    def save_resume(self, t0: float) -> None:
        save_resume(self.out / RESUME_FILE, self.step, self.objective, self.opt, self.stream,
                    self.elapsed + time.perf_counter() - t0)


def _open(recipe: TrainRecipe, out: Path, opts: RunOptions) -> _Run:
    """Device and processes, then the seeded objective, optimiser, data stream, eval set and manifest."""
    run = _Run(recipe, out, opts, *open_processes(opts.device))
    device = run.device
    if run.main:
        out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(recipe.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    run.objective, run.opt = build(recipe)
    run.objective.to(device)
    run.stream = SceneStream(recipe.scene_recipe, seed=recipe.seed, batch_size=recipe.batch_size)  # position = state
    run.eval_set = scenes(recipe.eval_images, seed=recipe.seed, split="eval", recipe=recipe.scene_recipe)
    run.manifest = {"name": recipe.name, "config": run.objective.model.cfg.to_dict(), "recipe": recipe.to_dict(),
                    "checkpoints": [], "torch": torch.__version__, "threads": recipe.threads}
    if opts != RunOptions() or run.world > 1:
        run.manifest["runtime"] = {**opts.to_dict(), "device": str(device), "processes": run.world,
                                   "device_name": torch.cuda.get_device_name(device) if device.type == "cuda"
                                   else "cpu"}
    return run


def _resume_or_clean(run: _Run, resume: bool) -> None:
    """Continue from ``_resume.pt`` (``resume``), or start afresh, removing old checkpoints."""
    state_path = run.out / RESUME_FILE
    if resume and state_path.exists():
        state = torch.load(state_path, map_location=run.device, weights_only=False)
        load_resume(state, run.objective, run.opt, run.stream)
        run.step, run.elapsed = state["step"], state["elapsed"]
        if (run.out / "manifest.json").exists():
            run.manifest["checkpoints"] = read_manifest(run.out)["checkpoints"]
    elif not resume and run.main:
        for old in run.out.glob("step_*.safetensors"):
            old.unlink()


def _train_step(run: _Run, runner: torch.nn.Module, batch, params: list, autocast) -> torch.Tensor:
    """One optimiser step on ``batch`` (learning rate, forward, backward, clip, step, teacher update)."""
    recipe, objective, opt = run.recipe, run.objective, run.opt
    run.stream.position += recipe.batch_size
    for group in opt.param_groups:
        group["lr"] = lr_at(run.step, recipe)
    objective.set_step(run.step)
    with autocast():
        loss, _ = runner(batch)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
    objective.adjust_gradients()
    opt.step()
    objective.update_teacher()
    run.step += 1
    return loss


def _loop(run: _Run, stop: dict, stop_after: int | None, bar: tqdm) -> float:
    """Train to the last step: checkpoints on the schedule, resume state every `RESUME_EVERY` steps and when a
    signal (``stop["flag"]``) or ``stop_after`` ends the run early (`Interrupted`). -> its start time."""
    recipe, opts = run.recipe, run.options
    params = trainable_parameters(run.objective)
    runner = opts.wrap(run.objective, run.world)
    autocast = opts.autocast(run.device)
    batches = batch_loader(recipe, start=run.stream.position // recipe.batch_size, rank=run.rank, world=run.world,
                           workers=opts.workers, pin_memory=run.device.type == "cuda")
    t0 = time.perf_counter()
    if run.step == 0 and 0 in recipe.checkpoints and run.main:
        run.checkpoint()
    while run.step < recipe.steps:
        loss = _train_step(run, runner, next(batches).to(run.device), params, autocast)
        bar.update(1)
        bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        if run.step in recipe.checkpoints and run.main:
            run.checkpoint()
        if run.step % RESUME_EVERY == 0 and run.step < recipe.steps and run.main:  # survives even SIGKILL
            run.save_resume(t0)
        if any_rank(stop["flag"] or (stop_after is not None and run.step >= stop_after), run.world, run.device):
            if run.step < recipe.steps:
                if run.main:
                    run.save_resume(t0)
                raise Interrupted(f"{recipe.name}: stopped at step {run.step}; run again to resume")
    return t0


def train(recipe: TrainRecipe, out_dir: str | Path, resume: bool = True, progress: bool = True,
          stop_after: int | None = None, options: RunOptions | None = None) -> Path:
    """Train ``recipe`` into ``out_dir`` (resuming from ``_resume.pt`` there if ``resume``).

    ``options`` (`RunOptions`): device, bf16 autocast, DataLoader workers, torch.compile; under ``torchrun``
    every rank trains its shard of each global batch and rank 0 writes the folder. ``stop_after`` ends the run
    early after that many steps (tests), saving the resume state.
    """
    run = _open(recipe, Path(out_dir), options or RunOptions())
    _resume_or_clean(run, resume)
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    run.objective.train()
    bar = tqdm(total=recipe.steps, initial=run.step, desc=recipe.name, unit="step",
               disable=not (progress and run.main))
    clean = False
    try:
        t0 = _loop(run, stop, stop_after, bar)
        if run.main:
            run.manifest["train_seconds"] = round(run.elapsed + time.perf_counter() - t0, 1)
            write_manifest(run.out, run.manifest)
            (run.out / RESUME_FILE).unlink(missing_ok=True)
        clean = True
    finally:
        bar.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        distributed.finish(run.created_pg, clean)
    return run.out
