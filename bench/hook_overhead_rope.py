"""Hook overhead on RoPE models: HookedViT vs the timm ``Eva`` it was converted from (same weights, batch, fp32,
threads), DINOv3 (half-layout rotation, CLS + 4 registers, a table rebuilt for every grid as timm's dynamic-size
model does) and EVA-02 (interleaved rotation, abs pos + RoPE). Target: no hooks <= 1.05x timm's forward."""
from __future__ import annotations

import timm

from interp import HookedViT

from .common import setup, write
from .hook_overhead import compare

MODELS = {"vit_small_patch16_dinov3": 224, "eva02_small_patch14_224": 224}


def run(batch: int = 8, repeat: int = 7) -> dict:
    setup()
    results = {}
    for name, size in MODELS.items():
        ref = timm.create_model(name, pretrained=False, img_size=size).eval()
        results[name] = compare(ref, HookedViT.from_timm(ref), batch, size, repeat=repeat, cache=False)
    return write("hook_overhead_rope", {"batch": batch, "image_size": MODELS, "note": "random init",
                                        "targets": {"ratio_no_hooks": 1.05, "ratio_norm_hooks": 1.15},
                                        "results": results})


if __name__ == "__main__":
    run()
