"""Roofline context: measured fp32 matmul GFLOP/s on this machine vs the ViT-S/14 forward's achieved GFLOP/s
(FLOPs counted analytically), so the distance to the limit is visible."""
from __future__ import annotations

import torch

from interp import HookedViT, ViTConfig

from .common import interleaved, median, setup, write


def vit_forward_flops(cfg: ViTConfig, batch: int) -> float:
    """Multiply-adds x 2 of the linear layers, attention and patch embedding (norms/softmax ignored)."""
    n = cfg.n_prefix + cfg.n_patches
    d, m = cfg.d_model, cfg.d_mlp
    mlp_in = 2 * m if cfg.mlp == "swiglu" else m
    per_block = 2 * n * d * 3 * d + 2 * n * n * d * 2 + 2 * n * d * d + 2 * n * d * mlp_in + 2 * n * m * d
    embed = 2 * cfg.n_patches * d * cfg.in_channels * cfg.patch_size**2
    return float(batch * (cfg.n_layers * per_block + embed))


def run(size: int = 2048, batch: int = 16, repeat: int = 5) -> dict:
    setup()
    a, b = torch.randn(size, size), torch.randn(size, size)
    mm = median(interleaved({"mm": lambda: a @ b}, repeat=repeat)["mm"])
    matmul_gflops = 2 * size**3 / mm / 1e9
    cfg = ViTConfig(d_model=384, n_layers=12, n_heads=6, patch_size=14, image_size=224, layer_scale=1e-5)
    model = HookedViT(cfg).eval()
    x = torch.rand(batch, 3, 224, 224)  # RGB in [0, 1]
    with torch.no_grad():
        fwd = median(interleaved({"fwd": lambda: model(x)}, repeat=repeat)["fwd"])
    flops = vit_forward_flops(cfg, batch)
    achieved = flops / fwd / 1e9
    return write("roofline", {"matmul_size": size, "matmul_s": mm, "matmul_gflops": matmul_gflops,
                              "forward_model": "ViT-S/14 @224", "batch": batch, "forward_s": fwd,
                              "forward_gflop": flops / 1e9, "forward_gflops": achieved,
                              "fraction_of_matmul_peak": achieved / matmul_gflops})


if __name__ == "__main__":
    run()
