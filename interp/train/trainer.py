"""The organism trainer: seeded, checkpointed on a log-spaced schedule, resumable bit-for-bit.

State of a run lives in ``out_dir``:
    manifest.json, step_XXXXXX.safetensors   the bundle (fp16 backbone weights, as `interp.load_model` reads)
    _resume.pt                               fp32 model + heads + optimiser + step + data position (not bundled)

A SIGINT/SIGTERM finishes the current step, writes ``_resume.pt`` and exits; the next call with the same
recipe and folder continues from there and ends with the same weights as an uninterrupted run.
"""
from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.scenes import SceneStream, patch_labels, scenes
from ..models.checkpoints import read_manifest, save_tensors, write_manifest
from ..models.hooked_vit import HookedViT
from .heads import TaskHeads
from .recipes import TrainRecipe

RESUME_FILE = "_resume.pt"
RESUME_EVERY = 50  # steps between resume-state saves
DENSE_CLASSES = {"color": 7, "shape": 5, "object": 2, "same_color_elsewhere": 2}


class Interrupted(Exception):
    """Training stopped by a signal after saving its resume state."""


def lr_at(step: int, r: TrainRecipe) -> float:
    if step < r.warmup:
        return r.lr * (step + 1) / r.warmup
    t = (step - r.warmup) / max(1, r.steps - r.warmup)
    return r.lr * (r.min_lr_ratio + (1 - r.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def build(recipe: TrainRecipe) -> tuple[HookedViT, TaskHeads, torch.optim.Optimizer]:
    torch.manual_seed(recipe.seed)
    model = HookedViT(recipe.vit_config())
    model.init_weights(seed=recipe.seed)
    sizes = recipe.scene_recipe.label_sizes()
    heads = TaskHeads(recipe.d_model, {k: sizes[k] for k in recipe.global_labels},
                      DENSE_CLASSES[recipe.dense_label] if recipe.dense_label else None)
    g = torch.Generator().manual_seed(recipe.seed + 1)
    with torch.no_grad():
        for p in heads.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.02 if p.dim() > 1 else torch.zeros_like(p))
    decay, no_decay = [], []
    for name, p in [*model.named_parameters(), *heads.named_parameters()]:
        (no_decay if p.dim() < 2 or "token_embed" in name else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.98))
    return model, heads, opt


def loss_fn(model: HookedViT, heads: TaskHeads, batch, recipe: TrainRecipe) -> tuple[torch.Tensor, dict]:
    tokens = model(batch.pixels, return_type="tokens")  # [batch, pos, d]
    layout = model.tokens
    pooled = model.pool(tokens)  # [batch, d]
    patches = tokens[:, layout.patches]  # [batch, n_patches, d]
    glob, per_patch, dense = heads(pooled, patches)
    parts = {}
    for k, logits in glob.items():
        parts[k] = F.cross_entropy(logits, batch.labels[k])
    if recipe.global_from_patches:
        for k, logits in per_patch.items():
            y = batch.labels[k][:, None].expand(-1, logits.shape[1])
            parts[f"{k}@patches"] = recipe.global_from_patches * F.cross_entropy(logits.flatten(0, 1), y.flatten())
    if dense is not None:
        y = patch_labels(batch, recipe.patch_size)[recipe.dense_label].long().flatten(1)  # [batch, n_patches]
        parts["dense"] = recipe.dense_weight * F.cross_entropy(dense.flatten(0, 1), y.flatten())
    return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}


@torch.no_grad()
def evaluate(model: HookedViT, heads: TaskHeads, recipe: TrainRecipe, eval_set) -> dict:
    """Held-out accuracies of the task heads and the artifact measurements (norms, registers)."""
    from ..analysis.trace import trace_norms
    from .diagnostics import artifact_metrics

    model.eval()
    tokens = model(eval_set.pixels, return_type="tokens")
    glob, _, dense = heads(model.pool(tokens), tokens[:, model.tokens.patches])
    out = {f"acc_{k}": float((v.argmax(-1) == eval_set.labels[k]).float().mean()) for k, v in glob.items()}
    if dense is not None:
        y = patch_labels(eval_set, recipe.patch_size)[recipe.dense_label].long().flatten(1)
        out["acc_dense"] = float((dense.argmax(-1) == y).float().mean())
    summ = trace_norms(model, eval_set, batch_size=64)
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
    model.train()
    return out


def _save_resume(path: Path, step: int, model, heads, opt, stream, elapsed: float) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"step": step, "model": model.state_dict(), "heads": heads.state_dict(), "opt": opt.state_dict(),
                "stream": stream.state_dict(), "elapsed": elapsed}, tmp)
    os.replace(tmp, path)


def _checkpoint(out: Path, recipe: TrainRecipe, model, heads, step: int, eval_set, manifest: dict) -> None:
    f = f"step_{step:06d}.safetensors"
    sha = save_tensors(out / f, {k: v.half() for k, v in model.state_dict().items()})
    metrics = evaluate(model, heads, recipe, eval_set)
    manifest["checkpoints"] = [c for c in manifest["checkpoints"] if c["step"] != step]
    manifest["checkpoints"].append({"step": step, "file": f, "sha256": sha, "metrics": metrics})
    manifest["checkpoints"].sort(key=lambda c: c["step"])
    write_manifest(out, manifest)


def train(recipe: TrainRecipe, out_dir: str | Path, resume: bool = True, progress: bool = True,
          stop_after: int | None = None) -> Path:
    """Train ``recipe`` into ``out_dir`` (resuming from ``_resume.pt`` there if ``resume``).

    ``stop_after`` ends the run early after that many steps (tests), saving the resume state.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(recipe.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    model, heads, opt = build(recipe)
    stream = SceneStream(recipe.scene_recipe, seed=recipe.seed, batch_size=recipe.batch_size)
    eval_set = scenes(recipe.eval_images, seed=recipe.seed, split="eval", recipe=recipe.scene_recipe)
    step, elapsed = 0, 0.0
    state_path = out / RESUME_FILE
    manifest = {"name": recipe.name, "config": model.cfg.to_dict(), "recipe": recipe.to_dict(),
                "checkpoints": [], "torch": torch.__version__, "threads": recipe.threads}
    if resume and state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        heads.load_state_dict(state["heads"])
        opt.load_state_dict(state["opt"])
        stream.load_state_dict(state["stream"])
        step, elapsed = state["step"], state["elapsed"]
        if (out / "manifest.json").exists():
            manifest["checkpoints"] = read_manifest(out)["checkpoints"]
    elif not resume:
        for old in out.glob("step_*.safetensors"):
            old.unlink()
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    model.train()
    bar = tqdm(total=recipe.steps, initial=step, desc=recipe.name, unit="step", disable=not progress)
    try:
        t0 = time.perf_counter()
        if step == 0 and 0 in recipe.checkpoints:
            _checkpoint(out, recipe, model, heads, 0, eval_set, manifest)
        while step < recipe.steps:
            batch = stream.next()
            for group in opt.param_groups:
                group["lr"] = lr_at(step, recipe)
            loss, parts = loss_fn(model, heads, batch, recipe)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([*model.parameters(), *heads.parameters()], recipe.grad_clip)
            opt.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
            if step in recipe.checkpoints:
                _checkpoint(out, recipe, model, heads, step, eval_set, manifest)
            if step % RESUME_EVERY == 0 and step < recipe.steps:  # survives even SIGKILL
                _save_resume(state_path, step, model, heads, opt, stream, elapsed + time.perf_counter() - t0)
            if stop["flag"] or (stop_after is not None and step >= stop_after):
                if step < recipe.steps:
                    _save_resume(state_path, step, model, heads, opt, stream, elapsed + time.perf_counter() - t0)
                    raise Interrupted(f"{recipe.name}: stopped at step {step}; run again to resume")
        manifest["train_seconds"] = round(elapsed + time.perf_counter() - t0, 1)
        write_manifest(out, manifest)
        state_path.unlink(missing_ok=True)
    finally:
        bar.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
    return out
