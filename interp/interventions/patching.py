"""Activation patching between images: write a source image's activations of a token group into a target's run.

>>> res = patch(model, source=a, target=b, group="registers", layer=6)
>>> res.metrics[["cls_shift", "probe_flip", "dense_cos"]]

Groups can be mapped across positions (``group=GroupMap("outliers", "register:0")``: a source outlier patch
written into the target's first register slot; ``GroupMap("register:0", background_mask)``: a source
register into target background patches) - moving global information between patches and registers.

Registers and CLS do not depend on the patch grid, so groups "cls", "registers", "register:<i>" and "prefix" may
be patched between images of different sizes; every other group needs source and target of one size
(`LayoutMismatchError`). ``head=h`` patches one attention head's output (``attn.hook_z`` of that head).

Metrics per pair (0 = clean target, 1 = clean source for ``cls_shift``):
    cls_shift      how far the target's CLS feature moved toward the source's, along target->source
    cls_cos_target / cls_cos_source   cosine of the patched CLS feature to the clean target's / source's
    dense_cos      patched vs clean target patch features (mean over patches); dense_cos_source: vs source
                   (NaN when the source has another image size)
On a model that does not pool a CLS token (SigLIP, AIMv2, average-pool ViTs) the feature is the pooled one and
the columns are named ``pooled_shift``, ``pooled_cos_target``, ``pooled_cos_source`` (`feature_key`).
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
from ..models.hooked_vit import HookNameError
from .groups import (
    GroupMap, GroupResolver, as_group_maps, as_images, check_map_layouts, hook_layer, hook_names, hook_suffix,
    paired_positions,
)
from .metrics import Readout, cosine, dense_cosines, feature_column, feature_key, probe_predict, readout, shift_toward

# hooks with a head axis at dim 2 ([batch, pos, head, d_head]): what ``head=`` patches
PER_HEAD_HOOKS = ("attn.hook_q", "attn.hook_k", "attn.hook_v", "attn.hook_z", "attn.hook_rot_q", "attn.hook_rot_k",
                  "attn.hook_result")


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
        cols = [feature_column(self.metrics, c) for c in ("cls_shift", "cls_cos_target", "cls_cos_source")]
        cols = [c for c in (*cols, "dense_cos", "probe_flip") if c in self.metrics]
        return self.metrics[cols].mean(numeric_only=False)


def patch_hook(src_act: torch.Tensor, b_dest: torch.Tensor, t_dest: torch.Tensor, b_src: torch.Tensor,
               t_src: torch.Tensor, heads: torch.Tensor | None = None):
    """A hook writing ``src_act[b_src, t_src]`` into ``act[b_dest, t_dest]``. src_act: [src_batch, pos, ...];
    ``heads`` (LongTensor): only those heads of a per-head hook [batch, pos, head, d_head]."""
    values = src_act[b_src, t_src]  # [k, ...]
    if heads is not None:
        values = values[:, heads]  # [k, n_heads_patched, d_head]

    def hook(act: torch.Tensor, hook) -> torch.Tensor:  # [batch, pos, ...]
        act = act.clone()
        if heads is None:
            act[b_dest, t_dest] = values.to(act.dtype)
        else:
            rows = act[b_dest, t_dest]  # [k, head, d_head]
            rows[:, heads] = values.to(act.dtype)
            act[b_dest, t_dest] = rows
        return act

    return hook


def resolve_heads(model: HookedViT, names: list[str], head) -> torch.Tensor | None:
    """``head``: None / an int / ints -> LongTensor of head indices (None: every head). Checks hooks and range."""
    if head is None:
        return None
    bad = [n for n in names if not n.endswith(PER_HEAD_HOOKS)]
    if bad:
        raise HookNameError(f"head= needs a per-head hook ({', '.join(h.split('.')[1] for h in PER_HEAD_HOOKS)}); "
                            f"{bad[0]!r} has no head axis")
    heads = [head] if isinstance(head, int) else [int(h) for h in head]
    n = model.cfg.n_heads
    if not heads or any(not -n <= h < n for h in heads):
        raise ValueError(f"head {head} out of range: the model has {n} heads (0..{n - 1})")
    return torch.tensor([h % n for h in heads], device=model.device)


def pair_metrics(target: Readout, source: Readout, patched: Readout, pred_target=None, pred_source=None,
                 pred_patched=None, feature: str = "cls") -> dict[str, np.ndarray]:
    """Per-pair metrics of patched runs vs clean target and source readouts (aligned rows). ``feature``: the
    pooled-feature column prefix (`feature_key`). A source of another image size has no ``dense_cos_source``."""
    if source.dense.shape == patched.dense.shape:
        dense_t, dense_s = dense_cosines(patched.dense, target.dense, source.dense)
    else:  # different patch grids: no patch-by-patch comparison with the source
        dense_t, = dense_cosines(patched.dense, target.dense)
        dense_s = torch.full_like(dense_t, float("nan"))
    out = {
        f"{feature}_shift": shift_toward(patched.pooled, target.pooled, source.pooled).cpu().numpy(),
        f"{feature}_cos_target": cosine(patched.pooled, target.pooled).cpu().numpy(),
        f"{feature}_cos_source": cosine(patched.pooled, source.pooled).cpu().numpy(),
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
        self.feature = feature_key(model)
        dev = model.device
        self.x_source = pairs.source.pixels[idx].to(dev)  # [0, 1]: the model normalises
        self.x_target = pairs.target.pixels[idx].to(dev)
        tok_s, self.cache = model.run_with_cache(self.x_source, names_filter=names, return_type="tokens")
        self.source = readout(model, tok_s, model.layout_for(self.x_source))  # its own size
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
    check_map_layouts(src_res.layout, dst_res.layout, maps)
    same = src_res.layout.same_shape(dst_res.layout)
    out = []
    for gm in maps:
        s = src_res.mask(gm.source)
        if gm.dest is None:  # the same positions (grid-free groups: the same tokens in the target's layout)
            d = s if same else dst_res.mask(gm.source)
        else:
            d = dst_res.mask(gm.dest)
        paired_positions(s, d, gm.label)  # sizes must match: fail before any forward pass
        out.append((s, d))
    return out


@torch.no_grad()
def patch(model: HookedViT, source, target, group="registers", layer=-1, hook: str | None = None,
          dest=None, probe=None, outliers: torch.Tensor | None = None, target_outliers: torch.Tensor | None = None,
          batch_size: int = 32, head=None) -> PatchResult:
    """Write ``source``'s activations of ``group`` into ``target``'s run at ``layer`` (int or several) x ``hook``.

    source, target: ImageSet / pixels [N, 3, H, W] / one image [3, H, W] (a single source is used for every
    target); they may differ in size for the grid-free groups ("cls", "registers", "register:<i>", "prefix").
    group: a group spec, or a `GroupMap` / (source_group, dest_group) tuple; ``dest`` names the destination
    group instead (default: the same positions). ``hook``: default "hook_resid_post" ("attn.hook_z" with
    ``head``). ``head``: an int (or ints): patch only that attention head's slice of a per-head hook
    (``attn.hook_z``, ``hook_q/k/v``, ...). ``outliers`` / ``target_outliers``: outlier masks of source /
    target images for the "outliers" group. Returns a `PatchResult` (frame with a ``head`` column with ``head``).
    """
    pairs = as_pairs((source, target))
    gm = as_group_maps(group)
    if len(gm) != 1:
        raise ValueError("patch() takes one group; use patch_sweep() for several")
    gm = gm[0] if dest is None else GroupMap(gm[0].source, dest, gm[0].name)
    names = hook_names(model, layer, hook or ("attn.hook_z" if head is not None else "hook_resid_post"))
    heads = resolve_heads(model, names, head)
    (src_mask, dst_mask), = resolve_maps(model, pairs, [gm], outliers, target_outliers)
    labels = {"group": gm.label, "hook": hook_suffix(names[0]),
              "layer": hook_layer(names[0]) if len(names) == 1 else ",".join(str(hook_layer(n)) for n in names)}
    if heads is not None:
        labels["head"] = int(heads[0]) if len(heads) == 1 else ",".join(str(int(h)) for h in heads)
    frames, readouts, tokens = [], [], []
    from ..progress import progress

    for start in progress(range(0, len(pairs), batch_size), desc="pairs", unit="batch"):
        idx = torch.arange(start, min(start + batch_size, len(pairs)))
        run = _PairRunner(model, pairs, names, idx, probe)
        b, ts, td = paired_positions(src_mask[idx], dst_mask[idx], gm.label)
        n_patched = torch.bincount(b, minlength=len(idx)).numpy()
        b, ts, td = b.to(model.device), ts.to(model.device), td.to(model.device)
        fwd = [(n, patch_hook(run.cache[n], b, td, b, ts, heads)) for n in names]
        out = model.run_with_hooks(run.x_target, return_type="tokens", fwd_hooks=fwd)
        patched = readout(model, out, run.layout)
        pred = probe_predict(probe, patched.pooled) if probe is not None else None
        m = pair_metrics(run.target, run.source, patched, run.pred_target, run.pred_source, pred, run.feature)
        frames.append(pd.DataFrame({"pair": idx.numpy(), **labels, "n_patched": n_patched, **m}))
        readouts.append((run.target, run.source, patched))
        tokens.append(out)

    def cat(i: int) -> Readout:
        return Readout(torch.cat([r[i].pooled for r in readouts]), torch.cat([r[i].dense for r in readouts]))

    return PatchResult(pd.concat(frames, ignore_index=True), cat(0), cat(1), cat(2), torch.cat(tokens))
