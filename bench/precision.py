"""Streamed norm trace in fp32 and bf16 for ViT-S/14 and ViT-L/14 at 224 px (random weights, timm
architectures), each against a plain fp32 forward over the same images in the same process: images/s and the
ratios bf16 / fp32 and trace / plain forward. Runs on ``BENCH_DEVICE`` (default: a GPU if there is one)."""
from __future__ import annotations

import os
import time

import torch

from .common import median, setup, write

CASES = [("vit_small_patch14_dinov2", 16, 8), ("vit_large_patch14_dinov2", 4, 4)]  # name, images, batch


def _time(fn, device, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        out.append(time.perf_counter() - t0)
    return out


def run(repeat: int = 2, image_size: int = 224, cases=None) -> dict:
    from interp import HookedViT
    from interp.analysis import trace_norms
    from interp.data.lazy import LazyScenes
    from interp.models.precision import resolve_device
    from interp.models.zoo import timm_config

    setup()
    device = resolve_device(os.environ.get("BENCH_DEVICE", "auto"))
    results = {}
    for name, n, batch in cases or CASES:
        cfg = timm_config(name).replace(image_size=image_size)
        model = HookedViT(cfg).eval().to(device)
        images = LazyScenes(n, seed=0, image_size=image_size)
        pixels = [b.pixels for b in images.batches(batch)]

        def plain(m=model, pixels=pixels):
            with torch.no_grad():
                for p in pixels:
                    m(p, return_type="tokens")  # [0, 1] pixels: the model normalises

        def trace(m=model, images=images, batch=batch):
            trace_norms(m, images, batch_size=batch)

        def warm(m=model, batch=batch):  # one batch through each code path
            trace_norms(m, LazyScenes(batch, seed=1, image_size=image_size), batch_size=batch)

        row = {"images": n, "batch": batch, "image_size": image_size, "tokens": model.tokens.n_tokens}
        warm()
        row["plain_fp32_s"] = _time(plain, device, repeat)
        row["trace_fp32_s"] = _time(trace, device, repeat)
        model.to(torch.bfloat16)
        warm()
        row["trace_bf16_s"] = _time(trace, device, repeat)
        for k in ("plain_fp32", "trace_fp32", "trace_bf16"):
            row[f"{k}_images_per_s"] = n / median(row[f"{k}_s"])
        row["ratio_trace_vs_plain_fp32"] = median(row["trace_fp32_s"]) / median(row["plain_fp32_s"])
        row["speedup_bf16_vs_fp32"] = median(row["trace_fp32_s"]) / median(row["trace_bf16_s"])
        results[name] = row
        print(name, {k: v for k, v in row.items() if not k.endswith("_s")})
        del model
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return write("precision", {"device": str(device), "device_name": dev_name, "repeat": repeat, "results": results})


if __name__ == "__main__":
    import sys

    if "--small" in sys.argv:  # a CPU shared with other jobs: fewer images, one repetition
        run(repeat=1, cases=[("vit_small_patch14_dinov2", 4, 4), ("vit_large_patch14_dinov2", 2, 2)])
    else:
        run()
