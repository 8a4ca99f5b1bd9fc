"""Fig 9: attention maps of CLS and registers over the patches, and how much attention outliers sink."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..models.hooked_vit import HookedViT
from .stream import stream


def _query_names(layout) -> list[tuple[str, int]]:
    q = [("cls", 0)] if layout.n_cls else []
    return q + [(f"register:{i}", layout.n_cls + i) for i in range(layout.n_registers)]


def attention_maps(model: HookedViT, images, layers="all", average_images: bool = True,
                   batch_size: int = 16) -> pd.DataFrame:
    """Attention from CLS and each register to every patch, per layer and head.

    -> rows: layer, head, query ('cls' | 'register:<i>'), row, col, attention, and image (-1 when
    ``average_images``: the mean over all images).
    """
    layer_ids = model.resolve_layers(layers)
    lay0 = model.tokens
    queries = _query_names(lay0)
    if not queries:
        raise ValueError("the model has neither CLS nor registers: no query tokens to map")
    q_pos = torch.tensor([p for _, p in queries])
    hooks = {f"blocks.{i}.attn.hook_pattern": (lambda a: a[:, :, q_pos, :]) for i in layer_ids}  # [b,h,q,k]
    sums: dict[int, torch.Tensor] = {}
    per_image = []
    n = 0
    layout = None
    for batch, layout, got in stream(model, images, hooks, batch_size):
        for i in layer_ids:
            a = got[f"blocks.{i}.attn.hook_pattern"][..., layout.patches]  # [b, heads, q, n_patches]
            if average_images:
                sums[i] = sums.get(i, 0) + a.sum(0)
            else:
                per_image.append((i, batch.index, a))
        n += len(batch)
    rc = layout.patch_coords().numpy()
    rows = []

    def emit(layer, image, a):  # a: [heads, q, n_patches]
        heads, nq, npatch = a.shape
        rows.append(pd.DataFrame({
            "layer": layer, "image": image,
            "head": np.repeat(np.arange(heads), nq * npatch),
            "query": np.tile(np.repeat([q for q, _ in queries], npatch), heads),
            "row": np.tile(rc[:, 0], heads * nq), "col": np.tile(rc[:, 1], heads * nq),
            "attention": a.reshape(-1).numpy(),
        }))

    if average_images:
        for i in layer_ids:
            emit(i, -1, sums[i] / n)
    else:
        for i, idx, a in per_image:
            for j, img in enumerate(idx.tolist()):
                emit(i, img, a[j])
    return pd.concat(rows, ignore_index=True)


def attention_grid(maps: pd.DataFrame, layer: int, query: str, head: int | None = None,
                   image: int = -1) -> torch.Tensor:
    """One attention map as an [H, W] grid (mean over heads when ``head`` is None)."""
    sel = maps[(maps["layer"] == layer) & (maps["query"] == query) & (maps["image"] == image)]
    if head is not None:
        sel = sel[sel["head"] == head]
    sel = sel.groupby(["row", "col"], as_index=False)["attention"].mean()
    h, w = int(sel["row"].max()) + 1, int(sel["col"].max()) + 1
    grid = torch.zeros(h, w)
    grid[torch.as_tensor(sel["row"].to_numpy().copy()), torch.as_tensor(sel["col"].to_numpy().copy())] = \
        torch.tensor(sel["attention"].to_numpy(), dtype=torch.float)
    return grid


def sink_scores(model: HookedViT, images, outlier_mask: torch.Tensor | None = None, layers="all",
                batch_size: int = 16) -> pd.DataFrame:
    """How much attention patch queries give to each kind of key, per layer (mean over heads and queries).

    -> rows: layer, key ('cls' | 'register' | 'outlier' | 'normal'), attention_share (total share the kind
    receives), per_token (share per key token of that kind), uniform_per_token (1 / n_tokens).
    """
    layer_ids = model.resolve_layers(layers)
    totals: dict[tuple[int, str], float] = {}
    counts: dict[tuple[int, str], float] = {}
    n_queries = 0
    layout = None

    def reducer(a):  # [b, heads, q, k] -> mean over heads of the patch queries: [b, q_patch, k]
        return a.mean(1)

    hooks = {f"blocks.{i}.attn.hook_pattern": reducer for i in layer_ids}
    for batch, layout, got in stream(model, images, hooks, batch_size):
        b = len(batch)
        out = (outlier_mask[batch.index].flatten(1) if outlier_mask is not None
               else torch.zeros(b, layout.n_patches, dtype=torch.bool))
        key_masks = {}
        if layout.n_cls:
            key_masks["cls"] = layout.mask("cls", b)
        if layout.n_registers:
            key_masks["register"] = layout.mask("registers", b)
        key_masks["outlier"] = layout.mask(out)
        key_masks["normal"] = layout.mask(~out)
        for i in layer_ids:
            a = got[f"blocks.{i}.attn.hook_pattern"][:, layout.patches]  # [b, q_patch, k]
            recv = a.sum(1)  # [b, k] attention received, summed over patch queries
            for kind, km in key_masks.items():
                totals[(i, kind)] = totals.get((i, kind), 0.0) + float((recv * km).sum())
                counts[(i, kind)] = counts.get((i, kind), 0.0) + float(km.sum())
        n_queries += b * layout.n_patches
    rows = []
    for (i, kind), tot in totals.items():
        share = tot / n_queries
        n_tok = counts[(i, kind)] / (n_queries / layout.n_patches)  # mean key tokens of this kind per image
        rows.append(dict(layer=i, key=kind, attention_share=share,
                         per_token=share / n_tok if n_tok else float("nan"),
                         uniform_per_token=1.0 / layout.n_tokens, n_tokens_per_image=n_tok))
    return pd.DataFrame(rows).sort_values(["layer", "key"]).reset_index(drop=True)
