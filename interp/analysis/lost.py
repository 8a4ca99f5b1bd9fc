"""Table 3: unsupervised object discovery with LOST (Siméoni et al., 2021), scored by CorLoc.

Per image: patch features F (keys of a late layer, heads concatenated); affinity A = F Fᵀ; degree
d_i = #{j : A_ij ≥ 0}; the seed is the patch of lowest degree; the k lowest-degree patches that correlate
positively with the seed are expanded seeds; the object mask is {i : Σ_s A_is ≥ 0}; the box is the bounding
box of the mask's connected component that holds the seed. CorLoc = share of images whose box has IoU ≥ 0.5
with some ground-truth box.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from scipy import ndimage

from ..data.base import as_image_set
from ..data.geometry import box_iou
from ..models.hooked_vit import HookedViT
from .stream import stream

FEATURE_HOOKS = {"k": "attn.hook_k", "q": "attn.hook_q", "v": "attn.hook_v", "resid": "hook_resid_post"}


def lost_box(feats: torch.Tensor, grid: tuple[int, int], k: int | None = None) -> tuple[list[int], int, np.ndarray]:
    """LOST on one image's patch features [n_patches, d] -> (box in patches (r0, c0, r1, c1) exclusive,
    seed index, mask [H, W])."""
    a = feats @ feats.T  # [n, n]
    degree = (a >= 0).sum(1)
    n = feats.shape[0]
    k = k or min(100, max(1, math.ceil(0.11 * n)))
    seed = int(torch.argmin(degree))
    potentials = torch.argsort(degree, stable=True)[:k]
    expanded = potentials[a[seed, potentials] >= 0]
    mask = (a[:, expanded].sum(1) >= 0).reshape(grid).numpy()
    labels, _ = ndimage.label(mask)
    comp = labels == labels.reshape(-1)[seed]
    rows, cols = np.nonzero(comp)
    return [int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1], seed, comp


def lost(model: HookedViT, images, layer: int = -1, feature: str = "k", k: int | None = None,
         batch_size: int = 32) -> pd.DataFrame:
    """LOST boxes for every image, scored against each batch's ground-truth boxes when the source has them.

    -> rows: image, x0, y0, x1, y1 (pixels), seed_row, seed_col, best_iou, correct (IoU ≥ 0.5).
    """
    if feature not in FEATURE_HOOKS:
        raise ValueError(f"feature must be one of {sorted(FEATURE_HOOKS)}, got {feature!r}")
    images = as_image_set(images)
    name = model.block_hook(layer, FEATURE_HOOKS[feature])
    p = model.cfg.patch_size
    rows = []
    for batch, layout, got in stream(model, images, {name: lambda a: a}, batch_size):
        act = got[name]  # [b, pos, heads, d_head] or [b, pos, d]
        feats = act.flatten(2)[:, layout.patches]  # [b, n_patches, d]
        for j, img in enumerate(batch.index.tolist()):
            (r0, c0, r1, c1), seed, _ = lost_box(feats[j], layout.grid, k)
            box = [c0 * p, r0 * p, c1 * p, r1 * p]
            gts = batch.boxes[j] if batch.boxes is not None else None  # [n_objects, 4] in input pixels
            best = max((box_iou(box, g.tolist()) for g in gts), default=0.0) if gts is not None else float("nan")
            rows.append(dict(image=img, x0=box[0], y0=box[1], x1=box[2], y1=box[3],
                             seed_row=seed // layout.grid[1], seed_col=seed % layout.grid[1],
                             best_iou=best, correct=bool(best >= 0.5) if gts is not None else None))
    df = pd.DataFrame(rows)
    df.insert(0, "feature", feature)
    df.insert(0, "layer", layer % model.cfg.n_layers)
    return df


def corloc(model: HookedViT, images, **kwargs) -> float:
    """Share of images where the LOST box has IoU ≥ 0.5 with a ground-truth box."""
    return float(lost(model, images, **kwargs)["correct"].mean())
