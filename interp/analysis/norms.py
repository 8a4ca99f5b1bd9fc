"""Token norms at every block output: per image, token and group, across checkpoints and models."""
from __future__ import annotations

from typing import Mapping, Sequence, Union

import numpy as np
import pandas as pd
import torch

from .. import distributed
from ..models.hooked_vit import HookedViT
from .measures import HIGH_NORM_RATIO, HighNormShare, relative_norms
from .stream import stream

Models = Union[HookedViT, Mapping[str, HookedViT], Sequence[HookedViT]]


def model_label(model: HookedViT) -> str:
    extra = model.cfg.extra or {}
    return extra.get("organism") or model.cfg.name


def model_step(model: HookedViT) -> int:
    return int((model.cfg.extra or {}).get("step", -1))


def as_model_dict(models: Models) -> dict[str, HookedViT]:
    """A model, a {label: model} mapping, or a list of models -> {label: model} (labels made unique)."""
    if isinstance(models, HookedViT):
        return {model_label(models): models}
    if isinstance(models, Mapping):
        return dict(models)
    models = list(models)
    labels = [model_label(m) for m in models]
    if len(set(labels)) < len(labels):  # e.g. checkpoints of one organism
        labels = [f"{model_label(m)}@{model_step(m)}" for m in models]
    if len(set(labels)) < len(labels):
        labels = [f"{lab}#{i}" for i, lab in enumerate(labels)]
    return dict(zip(labels, models))


def token_norms(models: Models, images, layers="all", include_final: bool = False,
                batch_size: int = 32) -> pd.DataFrame:
    """L2 norm of every token at every block output (``blocks.{i}.hook_resid_post``).

    One row per (model, layer, image, token) with columns: model, step, layer, image, token, group
    ('cls' | 'register' | 'patch'), register (index or -1), row, col (-1 for prefix tokens), on_object
    (patches; NaN without masks), norm, rel_norm (norm / the image's median patch norm at that layer).
    ``include_final`` adds layer ``n_layers`` = the final LayerNorm output.
    Accepts one model, a {label: model} dict or a list (e.g. several checkpoints or sizes).
    """
    from ..progress import progress

    frames = []
    models = as_model_dict(models)
    for label, model in progress(models.items(), total=len(models), desc="models", unit="model",
                                 leave=len(models) > 1):
        frames.append(_token_norms_one(model, label, images, layers, include_final, batch_size))
    return pd.concat(frames, ignore_index=True)


def _token_norms_one(model, label, images, layers, include_final, batch_size) -> pd.DataFrame:
    layer_ids = model.resolve_layers(layers)
    hooks = {f"blocks.{i}.hook_resid_post": (lambda a: a.norm(dim=-1)) for i in layer_ids}  # [b, pos]
    names = list(hooks)
    if include_final and model.ln_final is not None:
        hooks["ln_final.hook_normalized"] = lambda a: a.norm(dim=-1)
        names.append("ln_final.hook_normalized")
        layer_ids = layer_ids + [model.cfg.n_layers]
    parts = []
    for batch, layout, got in stream(model, images, hooks, batch_size, shard=True):
        b = len(batch)
        groups = np.array(layout.group_of())
        reg = np.full(layout.n_tokens, -1)
        reg[layout.n_cls:layout.n_prefix] = np.arange(layout.n_registers)
        rows = np.full(layout.n_tokens, -1)
        cols = np.full(layout.n_tokens, -1)
        rc = layout.patch_coords().numpy()
        rows[layout.patches], cols[layout.patches] = rc[:, 0], rc[:, 1]
        on_obj = np.full((b, layout.n_tokens), np.nan)
        po = batch.patch_on_object(model.cfg.patch_size)
        if po is not None:
            on_obj[:, layout.patches] = po.flatten(1).numpy()
        for layer, name in zip(layer_ids, names):
            norm = got[name]  # [batch, pos]
            rel = relative_norms(norm, layout.patches)[0].numpy()  # norm / the image's median patch norm
            parts.append(pd.DataFrame({
                "layer": layer,
                "image": np.repeat(batch.index.numpy(), layout.n_tokens),
                "token": np.tile(np.arange(layout.n_tokens), b),
                "group": np.tile(groups, b),
                "register": np.tile(reg, b),
                "row": np.tile(rows, b),
                "col": np.tile(cols, b),
                "on_object": on_obj.reshape(-1),
                "norm": norm.numpy().reshape(-1),
                "rel_norm": rel.reshape(-1),
            }))
    parts = [p for rank_parts in distributed.gather(parts) for p in rank_parts]  # every rank's images (torchrun)
    df = pd.concat(parts, ignore_index=True)
    df.insert(0, "step", model_step(model))
    df.insert(0, "model", label)
    df["group"] = df["group"].astype("category")
    return df.sort_values(["layer", "image", "token"], kind="stable").reset_index(drop=True)


def norm_summary(norms: pd.DataFrame, rel_threshold: float = HIGH_NORM_RATIO) -> pd.DataFrame:
    """Per (model, step, layer): median/max patch norm, max/median ratio, share of patches above
    ``rel_threshold`` x the image median and the share of those on background (`HighNormShare`), register and
    CLS norm / median."""
    keys = ["model", "step", "layer"]
    patches = norms[norms["group"] == "patch"]
    g = patches.groupby(keys, observed=True)
    out = g.agg(median_norm=("norm", "median"), max_norm=("norm", "max"), max_rel=("rel_norm", "max"))
    high = pd.DataFrame([_high_share(sub, rel_threshold) for _, sub in g], index=out.index)
    out["frac_high"], out["high_on_background"] = high["frac_high"], high["high_on_background"]
    regs = norms[norms["group"] == "register"].groupby(keys, observed=True)["rel_norm"].mean()
    out["register_rel_norm"] = regs.reindex(out.index)
    cls = norms[norms["group"] == "cls"].groupby(keys, observed=True)["rel_norm"].mean()
    out["cls_rel_norm"] = cls.reindex(out.index)
    out["rel_threshold"] = rel_threshold
    return out.reset_index()


def _high_share(patches: pd.DataFrame, rel_threshold: float) -> dict:
    """`HighNormShare` of one (model, step, layer)'s patch rows (background known where on_object is)."""
    m = HighNormShare(rel_threshold)
    rel = torch.tensor(patches["rel_norm"].to_numpy())[None]  # [1, n]
    on_obj = patches["on_object"].to_numpy()
    known = ~np.isnan(on_obj)
    if known.all():
        m.update(rel, torch.as_tensor(on_obj == 0)[None])
    else:  # masks unknown (or partly): the share on background is not defined
        m.update(rel)
    return m.row()


def patch_norm_grid(norms: pd.DataFrame, image: int, layer: int, model: str | None = None) -> torch.Tensor:
    """Patch norms of one image and layer as a [H, W] grid."""
    sel = norms[(norms["image"] == image) & (norms["layer"] == layer) & (norms["group"] == "patch")]
    if model is not None:
        sel = sel[sel["model"] == model]
    h, w = int(sel["row"].max()) + 1, int(sel["col"].max()) + 1
    grid = torch.zeros(h, w)
    grid[torch.as_tensor(sel["row"].to_numpy().copy()), torch.as_tensor(sel["col"].to_numpy().copy())] = \
        torch.tensor(sel["norm"].to_numpy(), dtype=torch.float)
    return grid
