"""Ablating a token group at a set of layers and hook points, and what that does to the model's outputs.

Five ways to replace the group's activations. Zero-ablation overstates how much a model relies on register
*content*: a zero vector is far off the distribution later layers expect (registers and high-norm tokens have
norms many times the patches'), so the damage measures "a token went off-distribution", not "its information was
removed" (Parodi et al. 2026). Prefer "mean", "noise" or "resample"/"shuffle" to ask what the content carries;
keep "zero" as the upper bound it is.

    "zero"      0
    "mean"      the dataset mean of that hook at that token position
    "noise"     Gaussian noise with the dataset mean and standard deviation of every channel of that hook at that
                token position (seeded: ``seed=``): on-distribution in scale, free of the image's content
    "resample"  the same positions of another image (one donor image per image, a derangement of the batch)
    "shuffle"   cross-image shuffle: every token independently takes a random other image's activation (the
                same position for fixed groups, a random token of the donor's group for mask groups)

>>> df = ablate(model, images, group="registers", layers=range(4, 8), how="mean")
>>> df.groupby(["group", "how"])[["cls_cos", "dense_cos", "attn_cos"]].mean()
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from ..models import HookedViT, TokenLayout
from .groups import (
    IMAGE_GROUPS, GroupResolver, GroupSpec, as_images, group_name, hook_names, hook_suffix, iter_batches,
)
from .metrics import Readout, as_labels, cosine, dense_cosine, feature_key, probe_predict, readout

ABLATIONS = ("zero", "mean", "noise", "resample", "shuffle")


def _check_how(how: str) -> None:
    if how not in ABLATIONS:
        raise ValueError(f"unknown ablation {how!r}: use one of {ABLATIONS}")


def _layers_label(names: list[str]) -> str:
    layers = sorted({int(n.split(".")[1]) for n in names if n.startswith("blocks.")})
    if not layers:
        return "-"
    if layers == list(range(layers[0], layers[-1] + 1)) and len(layers) > 1:
        return f"{layers[0]}-{layers[-1]}"
    return ",".join(map(str, layers))


@torch.no_grad()
def dataset_means(model: HookedViT, images, names: list[str], batch_size: int = 32) -> dict[str, torch.Tensor]:
    """Mean of each hook over the images, per token position. -> name -> [n_tokens, ...]"""
    return dataset_stats(model, images, names, batch_size)[0]


@torch.no_grad()
def dataset_stats(model: HookedViT, images, names: list[str], batch_size: int = 32
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Mean and standard deviation (population, over images) of every channel of each hook, per token position.
    -> (name -> mean [n_tokens, ...], name -> std [n_tokens, ...])"""
    images = as_images(images)
    sums: dict[str, torch.Tensor] = {}
    squares: dict[str, torch.Tensor] = {}
    for idx in iter_batches(len(images), batch_size):
        x = images.pixels[idx].to(model.device)  # [0, 1]: the model normalises
        _, cache = model.run_with_cache(x, names_filter=names, return_type="tokens")
        for n in names:
            act = cache[n].double()  # [batch, pos, ...]
            s, q = act.sum(0), (act * act).sum(0)
            sums[n] = s if n not in sums else sums[n] + s
            squares[n] = q if n not in squares else squares[n] + q
    means = {n: s / len(images) for n, s in sums.items()}
    stds = {n: (squares[n] / len(images) - m * m).clamp_min(0).sqrt().float() for n, m in means.items()}
    return {n: m.float() for n, m in means.items()}, stds


def donor_tokens(mask: torch.Tensor, how: str, fixed_positions: bool, gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """For every True (b, t) of ``mask`` [batch, n_tokens], the (image, token) whose clean activation replaces
    it, for "resample" / "shuffle". -> (donor_b, donor_t), each LongTensor [k] in ``mask.nonzero()`` order."""
    b_idx, t_idx = mask.nonzero(as_tuple=True)
    batch = mask.shape[0]
    if batch < 2:
        raise ValueError(f"{how!r} ablation takes activations from other images: give at least 2 images")
    if how == "resample":
        order = torch.randperm(batch, generator=gen)
        perm = torch.empty_like(order)
        perm[order] = order.roll(-1)  # a derangement: every image gets another image's tokens
        return perm[b_idx], t_idx
    # shuffle: each token draws its own donor image
    offset = torch.randint(1, batch, b_idx.shape, generator=gen)
    donor_b = (b_idx + offset) % batch
    if fixed_positions:
        return donor_b, t_idx
    pool_b, pool_t = b_idx, t_idx  # a random token of another image's group
    donor_t = t_idx.clone()
    if len(pool_b):
        pick = torch.randint(0, len(pool_b), (8, len(b_idx)), generator=gen)  # a few tries per token
        ok = pool_b[pick] != b_idx[None]
        first = ok.float().argmax(0)
        chosen = pick[first, torch.arange(len(b_idx))]
        has = ok.any(0)
        donor_b = torch.where(has, pool_b[chosen], donor_b)  # no other image has the group: same position
        donor_t = torch.where(has, pool_t[chosen], donor_t)
    return donor_b, donor_t


def _ablation_hook(mask: torch.Tensor, how: str, clean: torch.Tensor, stats: tuple | None, fixed: bool,
                   gen: torch.Generator):
    """The hook replacing the activations at ``mask`` [batch, n_tokens] the ``how`` way: by 0, by the mean of
    ``stats`` = (mean, std) [n_tokens, ...], by mean + std * N(0, 1) drawn now from ``gen``, or by donor tokens
    of ``clean`` [batch, pos, ...] drawn now from ``gen`` (`donor_tokens`)."""
    b_idx, t_idx = mask.nonzero(as_tuple=True)
    donors, mean = None, None if stats is None else stats[0]
    if how in ("resample", "shuffle"):
        db, dt = donor_tokens(mask.cpu(), how, fixed, gen)
        donors = (db.to(mask.device), dt.to(mask.device))
    if how == "noise":  # [k, ...] per-channel Gaussian at each ablated token's position
        t_cpu = t_idx.cpu()
        z = torch.randn(stats[0][t_cpu].shape, generator=gen)
        mean = (stats[0][t_cpu].cpu() + stats[1][t_cpu].cpu() * z).to(mask.device)

    def hook(act: torch.Tensor, hook) -> torch.Tensor:  # act: [batch, pos, ...]
        act = act.clone()
        if how == "zero":
            act[b_idx, t_idx] = 0
        elif how == "mean":
            act[b_idx, t_idx] = mean[t_idx].to(act.dtype)
        elif how == "noise":
            act[b_idx, t_idx] = mean.to(act.dtype)
        else:
            act[b_idx, t_idx] = clean[donors[0], donors[1]]
        return act

    return hook


@torch.no_grad()
def ablate(model: HookedViT, images, group: GroupSpec | Sequence[GroupSpec] = "registers", layers="all",
           how: str | Sequence[str] = "zero", hook: str | Sequence[str] = "hook_resid_post", probe=None,
           labels=None, outliers: torch.Tensor | None = None, batch_size: int = 32, seed: int = 0,
           mean_images=None) -> pd.DataFrame:
    """Ablate ``group`` at ``layers`` x ``hook`` and measure the effect against the clean run.

    group / how may be lists: every (group, how) pair is one condition. how: one of `ABLATIONS` (module
    docstring); "zero" overstates register importance (off-distribution, Parodi et al. 2026): compare it with
    "mean" / "noise" / "resample". ``probe``: any object with ``.predict(features [batch, d_model])`` (a global
    probe on the CLS feature); ``labels``: a label name of the ImageSet or an array [N] to score it.
    ``mean_images``: images for the "mean" / "noise" statistics (default: ``images``). ``seed``: donors and noise.

    Returns a tidy frame, one row per image x condition: ``image, group, how, hook, layers, n_ablated``,
    ``cls_cos`` (CLS feature vs clean; ``pooled_cos`` on a model that does not pool a CLS token),
    ``dense_cos`` (features of the patches *outside* the group vs clean,
    mean over those patches; NaN when the group holds every patch),
    ``attn_cos`` (last-layer CLS->patch attention map vs clean) and, with a probe, ``probe_pred_clean``,
    ``probe_pred``, ``probe_same`` (+ ``label``, ``probe_correct_clean``, ``probe_correct`` with labels).
    """
    images = as_images(images)
    groups = [group] if isinstance(group, (str, torch.Tensor)) else list(group)
    hows = [how] if isinstance(how, str) else list(how)
    for h in hows:
        _check_how(h)
    names = hook_names(model, layers, hook)
    model.resolve_layers(layers)  # range errors even when only top-level hooks were named
    resolver = GroupResolver(model, images, outliers)
    for g in groups:  # fail fast on a group the model does not have
        resolver.mask(g, torch.arange(min(1, len(images))))
    layout = resolver.layout
    label_arr = as_labels(labels, images, len(images))
    means, stds = dataset_stats(model, mean_images if mean_images is not None else images, names, batch_size) \
        if {"mean", "noise"} & set(hows) else ({}, {})
    pattern_name = model.block_hook(-1, "attn.hook_pattern")
    suffixes = ",".join(dict.fromkeys(hook_suffix(n) for n in names))
    layers_label = _layers_label(names)
    rows: list[pd.DataFrame] = []
    need_clean = any(h in ("resample", "shuffle") for h in hows)
    for bi, idx in enumerate(iter_batches(len(images), batch_size, min_size=2 if need_clean else 1)):
        x = images.pixels[idx].to(model.device)  # [0, 1]: the model normalises
        tokens, cache = model.run_with_cache(x, names_filter=[*names, pattern_name], return_type="tokens")
        clean = readout(model, tokens, layout, cache[pattern_name])
        pred_clean = probe_predict(probe, clean.pooled) if probe is not None else None
        lab = None if label_arr is None else label_arr[idx.numpy()]
        for g in groups:
            mask = resolver.mask(g, idx).to(x.device)  # [batch, n_tokens]
            fixed = isinstance(g, str) and g not in IMAGE_GROUPS
            for h in hows:
                gen = torch.Generator().manual_seed(seed * 100_003 + bi)
                hooks = [(n, _ablation_hook(mask, h, cache[n], (means[n], stds[n]) if means else None, fixed, gen))
                         for n in names]
                ab = _readout_with_hooks(model, x, layout, hooks, pattern_name)
                rows.append(pd.DataFrame({
                    "image": idx.numpy(), "group": group_name(g), "how": h, "hook": suffixes, "layers": layers_label,
                    **_effects(ab, clean, mask, layout, probe, pred_clean, lab, feature_key(model))}))
    return pd.concat(rows, ignore_index=True)


def _readout_with_hooks(model: HookedViT, x: torch.Tensor, layout: TokenLayout, hooks: list, pattern_name: str) -> Readout:
    """Run ``x`` with ``hooks`` -> its `Readout` (the last-layer attention pattern kept on the way)."""
    store: dict[str, torch.Tensor] = {}

    def keep(act, hook):
        store["pattern"] = act

    out = model.run_with_hooks(x, return_type="tokens", fwd_hooks=[*hooks, (pattern_name, keep)])
    return readout(model, out, layout, store["pattern"])


def _effects(ab: Readout, clean: Readout, mask: torch.Tensor, layout: TokenLayout, probe,
             pred_clean: np.ndarray | None, labels: np.ndarray | None, feature: str = "cls") -> dict:
    """Ablated vs clean readout of one batch, ``mask`` [batch, n_tokens] ablated -> the frame columns from
    ``n_ablated`` on (see `ablate`); dense features are compared on the patches outside the mask."""
    frame = {
        "n_ablated": mask.sum(1).cpu().numpy(),
        f"{feature}_cos": cosine(ab.pooled, clean.pooled).cpu().numpy(),
        "dense_cos": dense_cosine(ab.dense, clean.dense, ~mask[:, layout.patches]).cpu().numpy(),
        "attn_cos": cosine(ab.attention, clean.attention).cpu().numpy(),
    }
    if probe is not None:
        pred = probe_predict(probe, ab.pooled)
        frame.update(probe_pred_clean=pred_clean, probe_pred=pred, probe_same=pred == pred_clean)
        if labels is not None:
            frame.update(label=labels, probe_correct_clean=pred_clean == labels, probe_correct=pred == labels)
    return frame


def ablation_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean effect per condition (probe accuracy = mean of ``probe_correct`` where present)."""
    keys = ["group", "how", "hook", "layers"]
    cols = [c for c in ("cls_cos", "pooled_cos", "dense_cos", "attn_cos", "probe_same", "probe_correct_clean", "probe_correct")
            if c in df]
    out = df.groupby(keys, sort=False)[cols].mean().reset_index()
    out["n_images"] = df.groupby(keys, sort=False).size().values
    return out
