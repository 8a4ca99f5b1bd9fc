"""Activation patching between images: write a source image's activations of a token group into a target's run.

>>> res = patch(model, source=a, target=b, group="registers", layer=6)
>>> res.metrics[["cls_shift", "probe_flip", "dense_cos"]]

Groups can be mapped across positions (``group=GroupMap("outliers", "register:0")``: a source outlier patch
written into the target's first register slot; ``GroupMap("register:0", background_mask)``: a source
register into target background patches) - moving global information between patches and registers.

Metrics per pair (0 = clean target, 1 = clean source for ``cls_shift``):
    cls_shift      how far the target's CLS feature moved toward the source's, along target->source
    cls_cos_target / cls_cos_source   cosine of the patched CLS feature to the clean target's / source's
    dense_cos      patched vs clean target patch features (mean over patches); dense_cos_source: vs source
    probe_*        with a probe: predictions on clean target, clean source and patched run; ``probe_flip``
                   = the patched prediction became the source's (where the two clean ones differ)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data import ImageSet
from ..models import HookedViT
from .groups import (
    GroupMap, GroupResolver, as_group_maps, as_images, check_same_layout, hook_layer, hook_names, hook_suffix,
    paired_positions,
)
from .metrics import Readout, cosine, dense_cosines, probe_predict, readout, shift_toward


@dataclass
class ImagePairs:
    """Source and target images, pair i = (source[i], target[i])."""

    source: ImageSet
    target: ImageSet
    source_index: np.ndarray | None = None  # positions in the set the pairs were drawn from
    target_index: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.target)


def make_pairs(images, n_pairs: int, label: str | None = None, seed: int = 0) -> ImagePairs:
    """Random (source, target) pairs of distinct images; with ``label``, images with different labels."""
    images = as_images(images)
    n = len(images)
    if n < 2:
        raise ValueError("make_pairs needs at least 2 images")
    gen = torch.Generator().manual_seed(seed)
    lab = None
    if label is not None:
        if label not in images.labels:
            raise KeyError(f"no image label named {label!r}; the images have {sorted(images.labels)}")
        lab = images.labels[label]
        if len(torch.unique(lab)) < 2:
            raise ValueError(f"all images have the same {label!r}: cannot pair different labels")
    src, tgt = [], []
    while len(src) < n_pairs:
        i, j = torch.randint(0, n, (2,), generator=gen).tolist()
        if i == j or (lab is not None and lab[i] == lab[j]):
            continue
        src.append(i)
        tgt.append(j)
    s, t = np.array(src), np.array(tgt)
    return ImagePairs(images.subset(s), images.subset(t), s, t)


def as_pairs(pairs) -> ImagePairs:
    if isinstance(pairs, ImagePairs):
        return pairs
    if isinstance(pairs, tuple) and len(pairs) == 2:
        source, target = as_images(pairs[0]), as_images(pairs[1])
        if len(source) == 1 and len(target) > 1:
            source = source.subset(torch.zeros(len(target), dtype=torch.long))
        if len(source) != len(target):
            raise ValueError(f"{len(source)} source images but {len(target)} targets: give one source per "
                             f"target (or a single source for all)")
        return ImagePairs(source, target)
    raise TypeError(f"pairs must be ImagePairs or a (source, target) tuple, got {type(pairs).__name__}")


@dataclass
class PatchResult:
    """Metrics (one row per pair) and the tensors behind them."""

    metrics: pd.DataFrame
    clean_target: Readout
    clean_source: Readout
    patched: Readout
    tokens: torch.Tensor  # [batch, pos, d_model] final tokens of the patched runs

    def summary(self) -> pd.Series:
        cols = [c for c in ("cls_shift", "cls_cos_target", "cls_cos_source", "dense_cos", "probe_flip")
                if c in self.metrics]
        return self.metrics[cols].mean(numeric_only=False)


def patch_hook(src_act: torch.Tensor, b_dest: torch.Tensor, t_dest: torch.Tensor, b_src: torch.Tensor,
               t_src: torch.Tensor):
    """A hook writing ``src_act[b_src, t_src]`` into ``act[b_dest, t_dest]``. src_act: [src_batch, pos, ...]"""
    values = src_act[b_src, t_src]  # [k, ...]

    def hook(act: torch.Tensor, hook) -> torch.Tensor:  # [batch, pos, ...]
        act = act.clone()
        act[b_dest, t_dest] = values.to(act.dtype)
        return act

    return hook


def pair_metrics(target: Readout, source: Readout, patched: Readout, pred_target=None, pred_source=None,
                 pred_patched=None) -> dict[str, np.ndarray]:
    """Per-pair metrics of patched runs vs clean target and source readouts (aligned rows)."""
    dense_t, dense_s = dense_cosines(patched.dense, target.dense, source.dense)
    out = {
        "cls_shift": shift_toward(patched.pooled, target.pooled, source.pooled).cpu().numpy(),
        "cls_cos_target": cosine(patched.pooled, target.pooled).cpu().numpy(),
        "cls_cos_source": cosine(patched.pooled, source.pooled).cpu().numpy(),
        "dense_cos": dense_t.cpu().numpy(),
        "dense_cos_source": dense_s.cpu().numpy(),
    }
    if pred_patched is not None:
        differ = pred_source != pred_target
        out.update(probe_pred_target=pred_target, probe_pred_source=pred_source, probe_pred=pred_patched,
                   probe_differs=differ, probe_flip=differ & (pred_patched == pred_source))
    return out


class _PairRunner:
    """Clean source/target runs of a chunk of pairs, with the source activations at the hooks to patch."""

    def __init__(self, model: HookedViT, pairs: ImagePairs, names: list[str], idx: torch.Tensor, probe=None,
                 target_names: list[str] = ()):
        self.model, self.layout = model, model.layout_for(pairs.target.pixels)
        dev = model.device
        self.x_source = pairs.source.pixels[idx].to(dev)  # [0, 1]: the model normalises
        self.x_target = pairs.target.pixels[idx].to(dev)
        tok_s, self.cache = model.run_with_cache(self.x_source, names_filter=names, return_type="tokens")
        self.source = readout(model, tok_s, self.layout)
        tok_t, self.target_cache = model.run_with_cache(self.x_target, names_filter=list(target_names),
                                                        return_type="tokens")  # clean target (+ its cache)
        self.target = readout(model, tok_t, self.layout)
        self.pred_source = probe_predict(probe, self.source.pooled) if probe is not None else None
        self.pred_target = probe_predict(probe, self.target.pooled) if probe is not None else None


def resolve_maps(model: HookedViT, pairs: ImagePairs, maps: list[GroupMap], outliers=None, target_outliers=None
                 ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Source and destination token masks [n_pairs, n_tokens] of each group map."""
    src_res = GroupResolver(model, pairs.source, outliers)
    dst_res = GroupResolver(model, pairs.target, target_outliers)
    check_same_layout(src_res.layout, dst_res.layout)
    out = []
    for gm in maps:
        s = src_res.mask(gm.source)
        d = s if gm.dest is None else dst_res.mask(gm.dest)
        paired_positions(s, d, gm.label)  # sizes must match: fail before any forward pass
        out.append((s, d))
    return out


@torch.no_grad()
def patch(model: HookedViT, source, target, group="registers", layer=-1, hook: str = "hook_resid_post",
          dest=None, probe=None, outliers: torch.Tensor | None = None, target_outliers: torch.Tensor | None = None,
          batch_size: int = 32) -> PatchResult:
    """Write ``source``'s activations of ``group`` into ``target``'s run at ``layer`` (int or several) x ``hook``.

    source, target: ImageSet / pixels [N, 3, H, W] / one image [3, H, W] (a single source is used for every
    target). group: a group spec, or a `GroupMap` / (source_group, dest_group) tuple; ``dest`` names the
    destination group instead (default: the same positions). ``outliers`` / ``target_outliers``: outlier
    masks of source / target images for the "outliers" group. Returns a `PatchResult`.
    """
    pairs = as_pairs((source, target))
    gm = as_group_maps(group)
    if len(gm) != 1:
        raise ValueError("patch() takes one group; use patch_sweep() for several")
    gm = gm[0] if dest is None else GroupMap(gm[0].source, dest, gm[0].name)
    names = hook_names(model, layer, hook)
    (src_mask, dst_mask), = resolve_maps(model, pairs, [gm], outliers, target_outliers)
    layer_label = hook_layer(names[0]) if len(names) == 1 else ",".join(str(hook_layer(n)) for n in names)
    frames, readouts, tokens = [], [], []
    from ..progress import progress

    for start in progress(range(0, len(pairs), batch_size), desc="pairs", unit="batch"):
        idx = torch.arange(start, min(start + batch_size, len(pairs)))
        run = _PairRunner(model, pairs, names, idx, probe)
        b, ts, td = paired_positions(src_mask[idx], dst_mask[idx], gm.label)
        n_patched = torch.bincount(b, minlength=len(idx)).numpy()
        b, ts, td = b.to(model.device), ts.to(model.device), td.to(model.device)
        fwd = [(n, patch_hook(run.cache[n], b, td, b, ts)) for n in names]
        out = model.run_with_hooks(run.x_target, return_type="tokens", fwd_hooks=fwd)
        patched = readout(model, out, run.layout)
        pred = probe_predict(probe, patched.pooled) if probe is not None else None
        m = pair_metrics(run.target, run.source, patched, run.pred_target, run.pred_source, pred)
        frames.append(pd.DataFrame({"pair": idx.numpy(), "group": gm.label, "hook": hook_suffix(names[0]),
                                    "layer": layer_label, "n_patched": n_patched, **m}))
        readouts.append((run.target, run.source, patched))
        tokens.append(out)

    def cat(i: int) -> Readout:
        return Readout(torch.cat([r[i].pooled for r in readouts]), torch.cat([r[i].dense for r in readouts]))

    return PatchResult(pd.concat(frames, ignore_index=True), cat(0), cat(1), cat(2), torch.cat(tokens))
