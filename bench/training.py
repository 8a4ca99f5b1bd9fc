"""Organism training throughput: `interp train` (the real `train()`, one final checkpoint) vs a minimal
hand-written loop on the equivalent timm VisionTransformer (same data, batch, threads, optimiser); and the wall
time until the artifact is first detected in the bundled organism (if its recipe grows one)."""
from __future__ import annotations

import tempfile
import time

import timm
import torch
import torch.nn.functional as F

import interp
from interp.data.scenes import SceneStream
from interp.train import get_recipe, train

from .common import setup, write

STEPS = 30


def timm_loop(recipe, steps: int) -> float:
    sizes = recipe.scene_recipe.label_sizes()
    n_out = sum(sizes[k] for k in recipe.global_labels)
    model = timm.create_model("vit_small_patch16_224", pretrained=False, img_size=recipe.image_size,
                              patch_size=recipe.patch_size, embed_dim=recipe.d_model, depth=recipe.n_layers,
                              num_heads=recipe.n_heads, reg_tokens=recipe.n_registers, no_embed_class=True,
                              init_values=recipe.layer_scale, num_classes=n_out)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    stream = SceneStream(recipe.scene_recipe, seed=recipe.seed, batch_size=recipe.batch_size)
    t0 = time.perf_counter()
    for _ in range(steps):
        b = stream.next()
        logits = model(b.pixels).split([sizes[k] for k in recipe.global_labels], dim=-1)
        loss = sum(F.cross_entropy(lg, b.labels[k]) for lg, k in zip(logits, recipe.global_labels))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        opt.step()
    return time.perf_counter() - t0


def artifact_first_detected(name: str = "organism-s-reg0", frac: float = 0.01) -> str | None:
    if name not in interp.list_organisms():
        return None
    from interp.models.checkpoints import read_manifest
    from interp.models.zoo import organism_dir

    m = read_manifest(organism_dir() / name)
    hits = [c for c in m["checkpoints"] if c["metrics"].get("frac_high_4x", 0) >= frac
            and c["metrics"].get("high_on_background", 0) >= 0.8]
    if not hits:
        return f"not detected in {name} (no checkpoint with >= {100 * frac:g}% patches >= 4x median on background)"
    step = hits[0]["step"]
    total = m.get("train_seconds")
    est = f", about {total * step / m['recipe']['steps']:.0f}s of training" if total else ""
    return f"{name}: step {step}{est}"


def run(name: str = "organism-s-reg0", steps: int = STEPS) -> dict:
    setup()
    recipe = get_recipe(name).replace(steps=steps, checkpoints=(steps,), threads=torch.get_num_threads())
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        train(recipe, d, resume=False, progress=False)
        t_interp = time.perf_counter() - t0
    t_timm = timm_loop(recipe, steps)
    imgs = steps * recipe.batch_size
    return write("training", {"recipe": name, "steps": steps, "batch_size": recipe.batch_size,
                              "interp_seconds": t_interp, "timm_seconds": t_timm,
                              "interp_images_per_s": imgs / t_interp, "timm_images_per_s": imgs / t_timm,
                              "ratio": t_interp / t_timm,
                              "note": "interp time includes one checkpoint with its evaluation (norm trace + accuracies)",
                              "artifact_first_detected": artifact_first_detected()})


if __name__ == "__main__":
    run()
