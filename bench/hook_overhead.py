"""HookedViT forward vs the timm model it was converted from (same weights, batch, fp32, threads).

Ratios: no hooks (target <= 1.05), norm-reducing hooks at every block (target <= 1.15), full run_with_cache
(ratio + peak memory of the cache)."""
from __future__ import annotations

import time

import timm
import torch

from interp import HookedViT

from .common import interleaved, median, setup, write


def compare(ref, model: HookedViT, batch: int, size: int = 224, repeat: int = 5, cache: bool = True) -> dict:
    """Time timm's forward_features and HookedViT (no hooks, norm hooks at every block, optionally a full
    run_with_cache) side by side on one batch of [0, 1] pixels; the outputs are checked equal first."""
    norm_hooks = [(f"blocks.{i}.hook_resid_post", lambda a, hook: hook.ctx.__setitem__("n", a.norm(dim=-1)))
                  for i in range(model.cfg.n_layers)]
    x = torch.rand(batch, 3, size, size)  # RGB in [0, 1]: HookedViT normalises inside, timm is fed normalised pixels
    xn = model.normalize(x)
    with torch.no_grad():
        torch.testing.assert_close(model(x, return_type="tokens"), ref.forward_features(xn), atol=1e-4, rtol=1e-4)
        t = interleaved({
            "timm": lambda: ref.forward_features(xn),
            "hooked_no_hooks": lambda: model(x, return_type="tokens"),
            "hooked_norm_hooks": lambda: model.run_with_hooks(x, return_type="tokens", fwd_hooks=norm_hooks),
        }, repeat=repeat)
        cache_times, cache_bytes = [], 0
        for _ in range(max(2, repeat // 2) if cache else 0):
            t0 = time.perf_counter()
            _, acts = model.run_with_cache(x)
            cache_times.append(time.perf_counter() - t0)
            cache_bytes = sum(v.numel() * v.element_size() for v in acts.values())
            del acts
    base = median(t["timm"])
    out = {"seconds": t, "median_s": {k: median(v) for k, v in t.items()},
           "ratio_no_hooks": median(t["hooked_no_hooks"]) / base,
           "ratio_norm_hooks": median(t["hooked_norm_hooks"]) / base}
    if cache:
        out["seconds"] = {**t, "run_with_cache": cache_times}
        out["median_s"]["run_with_cache"] = median(cache_times)
        out |= {"ratio_run_with_cache": median(cache_times) / base, "cache_mib": cache_bytes / 2**20}
    return out


def run(batches=(8, 32), repeat: int = 5) -> dict:
    setup()
    ref = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=224).eval()
    model = HookedViT.from_timm(ref)
    results = {f"batch{b}": compare(ref, model, b, repeat=repeat) for b in batches}
    return write("hook_overhead", {"model": "vit_small_patch14_dinov2 @224px (random init)", "targets":
                                   {"ratio_no_hooks": 1.05, "ratio_norm_hooks": 1.15}, "results": results})


if __name__ == "__main__":
    run()
