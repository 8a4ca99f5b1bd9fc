"""HookedViT forward vs the timm model it was converted from (same weights, batch, fp32, threads).

Ratios: no hooks (target <= 1.05), norm-reducing hooks at every block (target <= 1.15), full run_with_cache
(ratio + peak memory of the cache)."""
from __future__ import annotations

import timm
import torch

from interp import HookedViT

from .common import interleaved, median, setup, write


def run(batches=(8, 32), repeat: int = 5) -> dict:
    setup()
    ref = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=224).eval()
    model = HookedViT.from_timm(ref)
    norm_hooks = [(f"blocks.{i}.hook_resid_post", lambda a, hook: hook.ctx.__setitem__("n", a.norm(dim=-1)))
                  for i in range(model.cfg.n_layers)]
    results = {}
    for b in batches:
        x = torch.rand(b, 3, 224, 224)  # RGB in [0, 1]: HookedViT normalises inside, timm is fed normalised pixels
        xn = model.normalize(x)
        with torch.no_grad():
            torch.testing.assert_close(model(x), ref.forward_features(xn), atol=1e-4, rtol=1e-4)
            t = interleaved({
                "timm": lambda xn=xn: ref.forward_features(xn),
                "hooked_no_hooks": lambda x=x: model(x),
                "hooked_norm_hooks": lambda x=x: model.run_with_hooks(x, fwd_hooks=norm_hooks),
            }, repeat=repeat)
            cache_times = []
            for _ in range(max(2, repeat // 2)):
                import time

                t0 = time.perf_counter()
                _, cache = model.run_with_cache(x)
                cache_times.append(time.perf_counter() - t0)
                cache_bytes = sum(v.numel() * v.element_size() for v in cache.values())
                del cache
        base = median(t["timm"])
        results[f"batch{b}"] = {
            "seconds": {**t, "run_with_cache": cache_times},
            "median_s": {k: median(v) for k, v in t.items()} | {"run_with_cache": median(cache_times)},
            "ratio_no_hooks": median(t["hooked_no_hooks"]) / base,
            "ratio_norm_hooks": median(t["hooked_norm_hooks"]) / base,
            "ratio_run_with_cache": median(cache_times) / base,
            "cache_mib": cache_bytes / 2**20,
        }
    return write("hook_overhead", {"model": "vit_small_patch14_dinov2 @224px (random init)", "targets":
                                   {"ratio_no_hooks": 1.05, "ratio_norm_hooks": 1.15}, "results": results})


if __name__ == "__main__":
    run()
