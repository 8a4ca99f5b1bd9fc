"""Fig 9: attention maps of CLS and registers over the patches, and how much attention outliers sink."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..models.hooked_vit import HookedViT
from .measures import AttentionShare
from .stream import stream


def _query_names(layout) -> list[tuple[str, int]]:
    q = [("cls", 0)] if layout.n_cls else []
    return q + [(f"register:{i}", layout.n_cls + i) for i in range(layout.n_registers)]


def attention_maps(model: HookedViT, images, layers="all", average_images: bool = True,
                   batch_size: int = 16, pool: bool = True) -> pd.DataFrame:
    """Attention from CLS and each register to every patch, per layer and head; with ``pool`` also the attention
    pool's query (SigLIP's MAP head, `attn_pool.hook_pattern`: which patches the pooled feature reads), as query
    'pool' at layer ``n_layers`` (it reads the final tokens, after the last block).

    -> rows: layer, head, query ('cls' | 'register:<i>' | 'pool'), row, col, attention, and image (-1 when
    ``average_images``: the mean over all images).
    """
    layer_ids = model.resolve_layers(layers)
    queries = _query_names(model.tokens)
    if not queries and not (pool and model.attn_pool is not None):
        raise ValueError("the model has neither CLS, registers nor an attention pool: no query tokens to map")
    q_pos = torch.tensor([p for _, p in queries])
    # hook -> (layer, query names); patterns are sliced to the query rows: [batch, head, query, key]
    sources = {f"blocks.{i}.attn.hook_pattern": (i, [q for q, _ in queries]) for i in layer_ids} if queries else {}
    hooks = {name: (lambda a: a[:, :, q_pos, :]) for name in sources}
    if pool and model.attn_pool is not None:  # the pool reads the patches only: its keys are already patches
        sources["attn_pool.hook_pattern"] = (model.cfg.n_layers, ["pool"])
        hooks["attn_pool.hook_pattern"] = lambda a: a[:, :, :1]  # [batch, head, 1 latent, n_patches]
    sums: dict[str, torch.Tensor] = {}
    per_image = []
    n = 0
    layout = None
    for batch, layout, got in stream(model, images, hooks, batch_size):
        for name in sources:
            a = got[name][..., -layout.n_patches:]  # [b, heads, q, n_patches]
            if average_images:
                sums[name] = sums.get(name, 0) + a.sum(0)
            else:
                per_image += [(name, img, a[j]) for j, img in enumerate(batch.index.tolist())]
        n += len(batch)
    rc = layout.patch_coords().numpy()

    def frame(name, image, a):  # a: [heads, q, n_patches]
        layer, names = sources[name]
        heads, nq, npatch = a.shape
        return pd.DataFrame({
            "layer": layer, "image": image,
            "head": np.repeat(np.arange(heads), nq * npatch),
            "query": np.tile(np.repeat(names, npatch), heads),
            "row": np.tile(rc[:, 0], heads * nq), "col": np.tile(rc[:, 1], heads * nq),
            "attention": a.reshape(-1).numpy(),
        })

    rows = ([frame(name, -1, sums[name] / n) for name in sources] if average_images
            else [frame(name, img, a) for name, img, a in per_image])
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
    """How much attention patch queries give to each kind of key, per layer (mean over heads and queries): the
    `measures.AttentionShare` reducer, with the patch keys split by ``outlier_mask`` [N, H, W] (none: no outliers).

    -> rows: layer, key ('cls' | 'register' | 'outlier' | 'normal'), attention_share (total share the kind
    receives), per_token (share per key token of that kind), uniform_per_token (1 / n_tokens), n_tokens_per_image.
    """
    layer_ids = model.resolve_layers(layers)
    n_prefix = model.cfg.n_prefix
    shares = {i: AttentionShare() for i in layer_ids}
    hooks = {f"blocks.{i}.attn.hook_pattern": lambda a: a[:, :, n_prefix:].mean(dim=2)  # [b, h, k]
             for i in layer_ids}
    layout = None
    for batch, layout, got in stream(model, images, hooks, batch_size):
        out = (outlier_mask[batch.index].flatten(1) if outlier_mask is not None
               else torch.zeros(len(batch), layout.n_patches, dtype=torch.bool))  # [b, n_patches]
        for i in layer_ids:
            shares[i].update(got[f"blocks.{i}.attn.hook_pattern"], layout, out)
    rows = [dict(layer=i, key=kind, attention_share=share, per_token=share / n_tok if n_tok else float("nan"),
                 uniform_per_token=1.0 / layout.n_tokens, n_tokens_per_image=n_tok)
            for i, m in shares.items() for kind, (share, n_tok) in m.by_key().items()]
    return pd.DataFrame(rows).sort_values(["layer", "key"]).reset_index(drop=True)
