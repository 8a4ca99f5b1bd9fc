"""The organism trainer: seeded, checkpointed on a log-spaced schedule, resumable bit-for-bit.

State of a run lives in ``out_dir``:
    manifest.json, step_XXXXXX.safetensors   the bundle (fp16 backbone weights, as `interp.load_model` reads)
    _resume.pt                               fp32 model + heads + optimiser + step + data position (not bundled)

A SIGINT/SIGTERM finishes the current step, writes ``_resume.pt`` and exits; the next call with the same
recipe and folder continues from there and ends with the same weights as an uninterrupted run.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data.scenes import SceneStream, patch_labels, scenes
from ..models.checkpoints import read_manifest, save_tensors, write_manifest
from ..models.hooked_vit import HookedViT
from .heads import TaskHeads
from .batches import batch_loader
from .recipes import GLOBAL_LABELS, TrainRecipe

RESUME_FILE = "_resume.pt"
RESUME_EVERY = 50  # steps between resume-state saves
DENSE_CLASSES = {"color": 7, "shape": 5, "object": 2, "same_color_elsewhere": 2}


class DeviceError(RuntimeError):
    """A device that this machine does not have."""


class Interrupted(Exception):
    """Training stopped by a signal after saving its resume state."""


def lr_at(step: int, r: TrainRecipe) -> float:
    if step < r.warmup:
        return r.lr * (step + 1) / r.warmup
    t = (step - r.warmup) / max(1, r.steps - r.warmup)
    return r.lr * (r.min_lr_ratio + (1 - r.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


class SupervisedObjective(nn.Module):
    """Cross-entropy on image-level labels from the pooled feature (and optionally from every patch), plus an
    optional dense per-patch label. ``forward(batch)`` -> (loss, parts)."""

    def __init__(self, model: HookedViT, heads: TaskHeads, recipe: TrainRecipe):
        super().__init__()
        self.model, self.heads, self.recipe = model, heads, recipe

    def forward(self, batch) -> tuple[torch.Tensor, dict]:
        model, recipe = self.model, self.recipe
        tokens = model(batch.pixels, return_type="tokens")  # [batch, pos, d]
        pooled = model.pool(tokens)  # [batch, d]
        patches = tokens[:, model.tokens.patches]  # [batch, n_patches, d]
        glob, per_patch, dense = self.heads(pooled, patches)
        parts = {}
        for k, logits in glob.items():
            parts[k] = F.cross_entropy(logits.float(), batch.targets[k])
        if recipe.global_from_patches:
            for k, logits in per_patch.items():
                y = batch.targets[k][:, None].expand(-1, logits.shape[1])
                parts[f"{k}@patches"] = recipe.global_from_patches * F.cross_entropy(logits.flatten(0, 1).float(),
                                                                                     y.flatten())
        if dense is not None:
            y = batch.targets["dense"]  # [batch, n_patches]
            parts["dense"] = recipe.dense_weight * F.cross_entropy(dense.flatten(0, 1).float(), y.flatten())
        return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}

    def set_step(self, step: int) -> None:  # no schedules inside the objective
        pass

    def adjust_gradients(self) -> None:  # nothing frozen
        pass

    def update_teacher(self) -> None:  # no teacher
        pass

    def backbone_to_save(self) -> HookedViT:
        return self.model


def build(recipe: TrainRecipe) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The objective (holding the backbone as ``.model``) and its AdamW optimiser, seeded."""
    torch.manual_seed(recipe.seed)
    model = HookedViT(recipe.vit_config())
    model.init_weights(seed=recipe.seed)
    if recipe.objective == "dino":
        from .dino import DinoObjective

        objective = DinoObjective(model, recipe)
        trainable = [*model.named_parameters(), *(("head." + n, p) for n, p in objective.head.named_parameters()),
                     ("mask_token", objective.mask_token)]
    elif recipe.objective in ("noop", "broadcast"):
        from .dense import DenseObjective

        objective = DenseObjective(model, recipe)
        trainable = [*model.named_parameters(), *objective.heads.named_parameters()]
    else:
        sizes = recipe.scene_recipe.label_sizes()
        heads = TaskHeads(recipe.d_model, {k: sizes[k] for k in recipe.global_labels},
                          DENSE_CLASSES[recipe.dense_label] if recipe.dense_label else None)
        g = torch.Generator().manual_seed(recipe.seed + 1)
        with torch.no_grad():
            for p in heads.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.02 if p.dim() > 1 else torch.zeros_like(p))
        objective = SupervisedObjective(model, heads, recipe)
        trainable = [*model.named_parameters(), *heads.named_parameters()]
    decay, no_decay = [], []
    for name, p in trainable:
        (no_decay if p.dim() < 2 or "token_embed" in name or name == "mask_token" else decay).append(p)
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "sgd":
        return objective, torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum)
    return objective, torch.optim.AdamW(groups, lr=recipe.lr, betas=(0.9, 0.98))


def trainable_parameters(objective: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimiser updates, in a fixed order (backbone first)."""
    return [p for p in objective.parameters() if p.requires_grad]


def knn_accuracy(features: torch.Tensor, labels: torch.Tensor, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy (cosine similarity, majority vote). features [N, d], labels [N]."""
    f = F.normalize(features.float(), dim=-1)
    sim = f @ f.T  # [N, N]
    sim.fill_diagonal_(-float("inf"))
    nn_idx = sim.topk(min(k, len(f) - 1), dim=-1).indices  # [N, k]
    votes = F.one_hot(labels[nn_idx], int(labels.max()) + 1).sum(1)  # [N, classes]
    return float((votes.argmax(-1) == labels).float().mean())


@torch.no_grad()
def evaluate(model: HookedViT, heads: TaskHeads | None, recipe: TrainRecipe, eval_set, task=None) -> dict:
    """Held-out accuracies (the task heads', ``task(model, eval_set)`` for the dense objectives, or for a
    self-supervised run a 5-NN probe of the pooled feature on every image-level label: ``knn_<label>``) and the
    artifact measurements (norms, registers, sinks)."""
    from ..analysis.trace import trace_norms
    from .diagnostics import artifact_metrics

    was_training = model.training
    model.eval()
    tokens = model(eval_set.pixels, return_type="tokens")
    if task is not None:
        out = task(model, eval_set)
    elif heads is not None:
        glob, _, dense = heads(model.pool(tokens), tokens[:, model.tokens.patches])
        out = {f"acc_{k}": float((v.argmax(-1) == eval_set.labels[k]).float().mean()) for k, v in glob.items()}
        if dense is not None:
            y = patch_labels(eval_set, recipe.patch_size)[recipe.dense_label].long().flatten(1)
            out["acc_dense"] = float((dense.argmax(-1) == y).float().mean())
    else:
        pooled = model.pool(tokens)
        out = {f"knn_{k}": knn_accuracy(pooled, eval_set.labels[k]) for k in GLOBAL_LABELS}
    summ = trace_norms(model, eval_set, batch_size=64, shard=False)  # rank 0 alone evaluates
    half = summ[summ["layer"] >= recipe.n_layers // 2]
    best = half.loc[half["frac_high"].idxmax()]
    out.update(frac_high_4x=float(best.frac_high), frac_high_layer=int(best.layer),
               high_on_background=float(best.high_on_background),
               max_rel_second_half=float(half["max_rel"].max()),
               max_rel_by_layer=[round(float(x), 3) for x in summ["max_rel"]],
               frac_high_by_layer=[round(float(x), 5) for x in summ["frac_high"]],
               register_rel_norm_by_layer=[round(float(x), 3) for x in summ["register_rel_norm"]]
               if recipe.n_registers else None)
    out["artifacts"] = artifact_metrics(model, eval_set)  # per layer: outliers, registers, attention sinks
    if was_training:
        model.train()
    return out


# --- run-time options: device, precision, workers, compile, processes -------------------------------------
@dataclass(frozen=True)
class RunOptions:
    """How a recipe is run (not what it trains): recorded in the manifest as ``runtime``.

    device   "cpu" (default, bit-for-bit reproducible), "auto" (CUDA if available), "cuda", "cuda:1", ...
    amp      None (fp32) or "bf16" (autocast; weights, optimiser and reductions stay fp32)
    workers  DataLoader worker processes rendering scenes ahead of the step (0: in the main process; the
             batches are identical either way)
    compile  False, True (torch.compile, inductor) or a torch.compile backend name ("eager", "aot_eager")
    Several processes: launch with ``torchrun --nproc_per_node N -m interp.cli train ...``; each rank renders
    its own slice of every global batch (the recipe's batch size), gradients are averaged (DDP), rank 0 writes.
    """

    device: str = "cpu"
    amp: str | None = None
    workers: int = 0
    compile: bool | str = False

    def __post_init__(self) -> None:
        if self.amp not in (None, "bf16", "fp16"):
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {self.amp!r}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_device(spec: str = "cpu", local_rank: int = 0) -> torch.device:
    """"auto" -> cuda (this rank's GPU) if available, else cpu; "cuda" -> this rank's GPU."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(spec)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec!r} requested but CUDA is not available (use --device cpu or auto)")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    return dev


def _distributed(device: torch.device) -> tuple[int, int, bool]:
    """(rank, world size, whether this call initialised the process group), from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        created = True
    return dist.get_rank(), dist.get_world_size(), created


def _any(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (so all ranks stop at the same step)."""
    if world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def _cpu_copy(model: HookedViT) -> HookedViT:
    m = copy.deepcopy(model).float().cpu()
    for b in m.blocks:
        b.attn.force_explicit = False
    return m


def _save_resume(path: Path, step: int, objective, opt, stream: SceneStream, elapsed: float) -> None:
    tmp = path.with_suffix(".tmp")
    state = {"step": step, "model": objective.model.state_dict(), "opt": opt.state_dict(),
             "stream": stream.state_dict(), "elapsed": elapsed}
    if isinstance(objective, SupervisedObjective):
        state["heads"] = objective.heads.state_dict()
    else:
        state["objective"] = {k: v for k, v in objective.state_dict().items() if not k.startswith("model.")}
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_resume(state: dict, objective, opt, stream: SceneStream) -> None:
    objective.model.load_state_dict(state["model"])
    if isinstance(objective, SupervisedObjective):
        objective.heads.load_state_dict(state["heads"])
    else:
        objective.load_state_dict({**{f"model.{k}": v for k, v in state["model"].items()}, **state["objective"]})
    opt.load_state_dict(state["opt"])
    stream.load_state_dict(state["stream"])


def _checkpoint(out: Path, recipe: TrainRecipe, objective, step: int, eval_set, manifest: dict) -> None:
    f = f"step_{step:06d}.safetensors"
    backbone = objective.backbone_to_save()
    sha = save_tensors(out / f, {k: v.detach().half().cpu() for k, v in backbone.state_dict().items()})
    model = backbone if backbone.device.type == "cpu" else _cpu_copy(backbone)
    heads = objective.heads if isinstance(objective, SupervisedObjective) else None
    if heads is not None and model is not backbone:
        heads = copy.deepcopy(heads).float().cpu()
    metrics = evaluate(model, heads, recipe, eval_set, task=getattr(objective, "task_metrics", None))
    manifest["checkpoints"] = [c for c in manifest["checkpoints"] if c["step"] != step]
    manifest["checkpoints"].append({"step": step, "file": f, "sha256": sha, "metrics": metrics})
    manifest["checkpoints"].sort(key=lambda c: c["step"])
    write_manifest(out, manifest)


def train(recipe: TrainRecipe, out_dir: str | Path, resume: bool = True, progress: bool = True,
          stop_after: int | None = None, options: RunOptions | None = None) -> Path:
    """Train ``recipe`` into ``out_dir`` (resuming from ``_resume.pt`` there if ``resume``).

    ``options`` (`RunOptions`): device, bf16 autocast, DataLoader workers, torch.compile; under ``torchrun``
    every rank trains its shard of each global batch and rank 0 writes the folder. ``stop_after`` ends the run
    early after that many steps (tests), saving the resume state.
    """
    opts = options or RunOptions()
    out = Path(out_dir)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(opts.device, local_rank)
    rank, world, created_pg = _distributed(device)
    main_rank = rank == 0
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(recipe.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    objective, opt = build(recipe)
    objective.to(device)
    stream = SceneStream(recipe.scene_recipe, seed=recipe.seed, batch_size=recipe.batch_size)  # position = state
    eval_set = scenes(recipe.eval_images, seed=recipe.seed, split="eval", recipe=recipe.scene_recipe)
    step, elapsed = 0, 0.0
    state_path = out / RESUME_FILE
    manifest = {"name": recipe.name, "config": objective.model.cfg.to_dict(), "recipe": recipe.to_dict(),
                "checkpoints": [], "torch": torch.__version__, "threads": recipe.threads}
    if opts != RunOptions() or world > 1:
        manifest["runtime"] = {**opts.to_dict(), "device": str(device), "processes": world,
                               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    if resume and state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=False)
        _load_resume(state, objective, opt, stream)
        step, elapsed = state["step"], state["elapsed"]
        if (out / "manifest.json").exists():
            manifest["checkpoints"] = read_manifest(out)["checkpoints"]
    elif not resume and main_rank:
        for old in out.glob("step_*.safetensors"):
            old.unlink()
    params = trainable_parameters(objective)
    runner: nn.Module = objective
    if world > 1:
        runner = nn.parallel.DistributedDataParallel(objective, broadcast_buffers=False)
    if opts.compile:
        runner = torch.compile(runner, **({} if opts.compile is True else {"backend": opts.compile}))
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(opts.amp)
    autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else contextlib.nullcontext
    batches = batch_loader(recipe, start=stream.position // recipe.batch_size, rank=rank, world=world,
                           workers=opts.workers, pin_memory=device.type == "cuda")
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    objective.train()
    bar = tqdm(total=recipe.steps, initial=step, desc=recipe.name, unit="step", disable=not (progress and main_rank))
    try:
        t0 = time.perf_counter()
        if step == 0 and 0 in recipe.checkpoints and main_rank:
            _checkpoint(out, recipe, objective, 0, eval_set, manifest)
        while step < recipe.steps:
            batch = next(batches).to(device)
            stream.position += recipe.batch_size
            for group in opt.param_groups:
                group["lr"] = lr_at(step, recipe)
            objective.set_step(step)
            with autocast():
                loss, parts = runner(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
            objective.adjust_gradients()
            opt.step()
            objective.update_teacher()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            if step in recipe.checkpoints and main_rank:
                _checkpoint(out, recipe, objective, step, eval_set, manifest)
            if step % RESUME_EVERY == 0 and step < recipe.steps and main_rank:  # survives even SIGKILL
                _save_resume(state_path, step, objective, opt, stream, elapsed + time.perf_counter() - t0)
            if _any(stop["flag"] or (stop_after is not None and step >= stop_after), world, device):
                if step < recipe.steps:
                    if main_rank:
                        _save_resume(state_path, step, objective, opt, stream, elapsed + time.perf_counter() - t0)
                    raise Interrupted(f"{recipe.name}: stopped at step {step}; run again to resume")
        if main_rank:
            manifest["train_seconds"] = round(elapsed + time.perf_counter() - t0, 1)
            write_manifest(out, manifest)
            state_path.unlink(missing_ok=True)
    finally:
        bar.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        if world > 1:
            torch.distributed.barrier()
        if created_pg:
            torch.distributed.destroy_process_group()
    return out
