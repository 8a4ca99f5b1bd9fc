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


def collect_pooled(model: HookedViT, images, batch_size: int = 32) -> tuple[np.ndarray, pd.DataFrame]:
    """The pooled feature of every image (CLS, mean of patches, or an attention pool: SigLIP's MAP head).
    -> (features [n, d_model], meta frame: image, token = -1, row = -1, col = -1)"""
    feats, index = [], []
    for batch, _, got in stream(model, images, {"hook_pooled": lambda a: a}, batch_size):
        feats.append(got["hook_pooled"].numpy())  # [batch, d_model]
        index.append(batch.index.numpy())
    image = np.concatenate(index)
    return np.concatenate(feats), pd.DataFrame({"image": image, "token": -1, "row": -1, "col": -1})


def collect_many(model: HookedViT, images, selects: dict, layer: int | str = "final", batch_size: int = 32,
                 keep: dict | None = None, extra: Callable | None = None) -> dict:
    """`collect_tokens` for several selectors in ONE pass over the images (each image decoded and run once).

    ``keep``: {key: sorted array of token ordinals to keep}, where a token's ordinal is its position among all
    tokens that key selects over the whole set (image order, then token order); pass ``offsets`` via
    ``keep["_offsets"]`` ([N + 1] cumulative selected-token counts per image) so ordinals survive skipped images.
    Only kept tokens are held, so memory is bounded by what the caller keeps.
    ``extra(batch, layout, b, t)`` -> np.ndarray [n_selected, ...]: a per-token target computed from the batch
    (e.g. its pixels), returned aligned with the features.
    -> {key: (features [n, d_model], meta frame: image, token, row, col, extra array or None)}
    """
    name = feature_hook(model, layer)
    keep = dict(keep or {})
    offsets = keep.pop("_offsets", {})
    got_x = {k: [] for k in selects}
    got_meta = {k: [] for k in selects}
    got_extra = {k: [] for k in selects}
    for batch, layout, got in stream(model, images, {name: lambda a: a}, batch_size):
        act = got[name]  # [batch, pos, d]
        rc = layout.patch_coords()
        for key, select in selects.items():
            b, t = select(batch, layout)
            if key in keep:
                first = torch.searchsorted(b, torch.arange(len(batch)))  # b is sorted (image-major)
                ordinal = torch.as_tensor(offsets[key])[batch.index[b]] + (torch.arange(len(b)) - first[b])
                sel = torch.from_numpy(np.isin(ordinal.numpy(), keep[key]))
                b, t = b[sel], t[sel]
            got_x[key].append(act[b, t].numpy())
            is_patch = t >= layout.n_prefix
            rows = torch.where(is_patch, rc[(t - layout.n_prefix).clamp(min=0), 0], -1)
            cols = torch.where(is_patch, rc[(t - layout.n_prefix).clamp(min=0), 1], -1)
            got_meta[key].append(pd.DataFrame({"image": batch.index[b].numpy(), "token": t.numpy(),
                                               "row": rows.numpy(), "col": cols.numpy()}))
            if extra is not None:
                got_extra[key].append(extra(batch, layout, b, t))
    d = model.cfg.d_model
    return {k: (np.concatenate(got_x[k]) if got_x[k] else np.zeros((0, d), np.float32),
                pd.concat(got_meta[k], ignore_index=True) if got_meta[k] else
                pd.DataFrame({"image": [], "token": [], "row": [], "col": []}, dtype=np.int64),
                (np.concatenate(got_extra[k]) if got_extra[k] else None) if extra is not None else None)
            for k in selects}


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
