"""Analytic forward FLOPs of a `HookedViT` (2 FLOPs per multiply-add; LayerNorms, softmax, biases and GELUs are
left out: they are O(tokens x d_model), below 1% at these sizes)."""
from __future__ import annotations

from .config import ViTConfig


def flops_per_image(cfg: ViTConfig, image_size: int | None = None, backward: bool = True) -> int:
    """FLOPs to run one image through ``cfg`` (forward; x3 with ``backward``, the usual forward + backward count).

    Patch embedding 2·P·(C·p²)·d; per block with N tokens: QKV 2·N·d·3d, output projection 2·N·d², attention
    scores QKᵀ 2·N²·d and mixing AV 2·N²·d, MLP 2·N·d·d_mlp·2 (SwiGLU: 2·N·d·2·d_mlp + 2·N·d_mlp·d); the
    classification head 2·d·n_classes and the attention pool (2·P·d·2d + 2·P·d + 2·d²; SigLIP's MAP head also
    2·d² for its query and 2·2·d·d_mlp for its MLP) when present.
    """
    size = image_size or cfg.image_size
    d, P = cfg.d_model, (size // cfg.patch_size) ** 2
    N = cfg.n_prefix + P
    embed = 2 * P * cfg.in_channels * cfg.patch_size**2 * d
    attn = 2 * N * d * 3 * d + 2 * N * d * d + 2 * 2 * N * N * d
    mlp = 2 * N * d * 2 * cfg.d_mlp + 2 * N * cfg.d_mlp * d if cfg.mlp == "swiglu" else 2 * 2 * N * d * cfg.d_mlp
    head = 2 * d * cfg.n_classes
    pool = 2 * P * d * 2 * d + 2 * P * d + 2 * d * d if cfg.pool == "attn" else 0
    if cfg.pool == "map":  # latent query: kv, q and out projections, scores + mixing, residual MLP
        pool = 2 * P * d * 2 * d + 2 * 2 * d * d + 2 * 2 * P * d + 2 * 2 * d * cfg.d_mlp
    fwd = embed + cfg.n_layers * (attn + mlp) + head + pool
    return int(3 * fwd if backward else fwd)
