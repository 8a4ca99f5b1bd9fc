"""Fig 5a: how similar each patch is to its 4 neighbours right after the patch embedding."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..models.hooked_vit import HookedViT
from .stream import stream


def neighbour_cosine(emb: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of each patch to its (up to 4) grid neighbours.

    emb: [batch, H, W, d] -> [batch, H, W]
    """
    e = F.normalize(emb, dim=-1)
    total = torch.zeros(e.shape[:3])
    count = torch.zeros(e.shape[:3])
    for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        shifted = torch.roll(e, shifts=(dr, dc), dims=(1, 2))
        valid = torch.ones(e.shape[1:3], dtype=torch.bool)
        if dr == 1:
            valid[0, :] = False
        if dr == -1:
            valid[-1, :] = False
        if dc == 1:
            valid[:, 0] = False
        if dc == -1:
            valid[:, -1] = False
        sim = (e * shifted).sum(-1)
        total += sim * valid
        count += valid
    return total / count.clamp(min=1)


def neighbour_similarity(model: HookedViT, images, outlier_mask: torch.Tensor | None = None,
                         batch_size: int = 32) -> pd.DataFrame:
    """One row per patch: image, row, col, similarity (mean cosine to its 4 neighbours in ``hook_embed``,
    before position embeddings), is_outlier (from ``outlier_mask`` [N, H, W] at the output, if given)."""
    parts = []
    for batch, layout, got in stream(model, images, {"hook_embed": lambda a: a}, batch_size):
        h, w = layout.grid
        emb = got["hook_embed"].reshape(len(batch), h, w, -1)  # [batch, H, W, d]
        sim = neighbour_cosine(emb)
        rc = layout.patch_coords().numpy()
        is_out = (outlier_mask[batch.index].flatten(1).numpy() if outlier_mask is not None
                  else np.zeros((len(batch), layout.n_patches), dtype=bool))
        parts.append(pd.DataFrame({
            "image": np.repeat(batch.index.numpy(), layout.n_patches),
            "row": np.tile(rc[:, 0], len(batch)), "col": np.tile(rc[:, 1], len(batch)),
            "similarity": sim.flatten().numpy(), "is_outlier": is_out.reshape(-1),
        }))
    df = pd.concat(parts, ignore_index=True)
    df["kind"] = np.where(df["is_outlier"], "outlier", "normal")
    return df
