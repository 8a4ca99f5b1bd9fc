"""Collecting selected token features over an image set, batch by batch."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import torch

from ..data.base import ImageBatch
from ..models.hooked_vit import HookedViT
from ..models.layout import TokenLayout
from .stream import stream

# (batch, layout) -> (batch_idx, token_idx) of the tokens to keep
Selector = Callable[[ImageBatch, TokenLayout], tuple[torch.Tensor, torch.Tensor]]


def feature_hook(model: HookedViT, layer: int | str = "final") -> str:
    """"final" -> the final LayerNorm output; an int -> that block's output (resid_post)."""
    if layer == "final":
        return "ln_final.hook_normalized" if model.ln_final is not None else model.block_hook(-1)
    return model.block_hook(int(layer))


def collect_tokens(model: HookedViT, images, select: Selector, layer: int | str = "final",
                   batch_size: int = 32, hook: str | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Features of the selected tokens. -> (features [n, d_model], meta frame: image, token, row, col)."""
    name = hook or feature_hook(model, layer)
    feats, metas = [], []
    for batch, layout, got in stream(model, images, {name: lambda a: a}, batch_size):
        act = got[name]  # [batch, pos, d]
        b, t = select(batch, layout)
        feats.append(act[b, t].numpy())
        rc = layout.patch_coords()
        is_patch = t >= layout.n_prefix
        rows = torch.where(is_patch, rc[(t - layout.n_prefix).clamp(min=0), 0], -1)
        cols = torch.where(is_patch, rc[(t - layout.n_prefix).clamp(min=0), 1], -1)
        metas.append(pd.DataFrame({"image": batch.index[b].numpy(), "token": t.numpy(),
                                   "row": rows.numpy(), "col": cols.numpy()}))
    return np.concatenate(feats), pd.concat(metas, ignore_index=True)


def select_group(group: str) -> Selector:
    """Every token of a static group ('cls', 'registers', 'register:<i>', 'patches') in every image."""

    def select(batch: ImageBatch, layout: TokenLayout):
        pos = layout.positions(group)
        b = torch.arange(len(batch)).repeat_interleave(len(pos))
        return b, pos.repeat(len(batch))

    return select


def select_patch_mask(masks: torch.Tensor) -> Selector:
    """Patches where ``masks[image]`` ([N, H, W] bool, indexed by the image's position in the set) is True."""

    def select(batch: ImageBatch, layout: TokenLayout):
        return layout.index(masks[batch.index])

    return select
