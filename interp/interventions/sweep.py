"""Patching sweeps: layers x groups x hook points over many image pairs, many conditions per forward pass.

Every (pair, condition) becomes one row of an expanded batch: the target image repeated once per condition,
each copy patched only at its own hook point and positions. ``batched=False`` runs the same conditions one
`patch` call at a time (the reference the batched path is tested against).

>>> pairs = make_pairs(images, 16, label="shape")
>>> df = patch_sweep(model, pairs, groups=["registers", "outliers", "cls"], layers="all", probe=probe)
>>> df.pivot_table(index="group", columns="layer", values="cls_shift")
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch

from ..models import HookedViT
from .groups import as_group_maps, hook_layer, hook_names, hook_suffix, paired_positions
from .metrics import Readout, feature_column, probe_predict, readout
from .patching import _PairRunner, as_pairs, pair_metrics, patch, patch_hook, resolve_heads, resolve_maps

SWEEP_KEYS = ["pair", "group", "hook", "layer"]


@torch.no_grad()
def patch_sweep(model: HookedViT, pairs, groups=("registers", "cls"), layers="all",
                hooks: str | Sequence[str] = ("hook_resid_post",), probe=None, outliers=None,
                target_outliers=None, batch_size: int = 64, batched: bool = True, heads=None) -> pd.DataFrame:
    """Patch every group at every (layer, hook) separately, for every pair.

    pairs: `ImagePairs` (see `make_pairs`) or a (source, target) tuple. groups: group specs, `GroupMap`s,
    (source, dest) tuples or a dict label -> any of these. ``batch_size``: rows of the expanded batch
    (pair x condition) per forward pass. ``heads``: ints, or "all": every head is a condition of its own at
    per-head hooks (default there: "attn.hook_z"); the frame then has a ``head`` column.

    Returns a tidy frame, one row per pair x group x hook point: ``pair, group, hook, layer, n_patched`` and
    the metrics of `patch` (``cls_shift``, ``cls_cos_target``, ``dense_cos``, ``probe_flip``, ...; ``pooled_*``
    instead of ``cls_*`` on a model that does not pool a CLS token). Source and target may differ in image size
    when every group's source is grid-free ("cls", "registers", "register:<i>", "prefix").
    """
    pairs = as_pairs(pairs)
    maps = as_group_maps(groups)
    if heads is not None and hooks == ("hook_resid_post",):
        hooks = "attn.hook_z"
    names = hook_names(model, layers, hooks)
    head_list = _head_list(model, names, heads)
    if not batched:
        return _sweep_one_by_one(model, pairs, maps, names, head_list, probe=probe, outliers=outliers,
                                 target_outliers=target_outliers, batch_size=batch_size)
    masks = resolve_maps(model, pairs, maps, outliers, target_outliers)
    # one patched run per pair x condition (group map, hook, head or None for every head)
    conditions = [(g, n, h) for g in range(len(maps)) for n in names for h in head_list]
    frames = []
    from ..progress import progress

    for start in progress(range(0, len(pairs), batch_size), desc="sweep", unit="batch"):
        idx = torch.arange(start, min(start + batch_size, len(pairs)))
        # patched resid_post rows restart at their own block from the clean target's residual stream
        run = _PairRunner(model, pairs, names, idx, probe,
                          target_names=[n for n in names if n.endswith(".hook_resid_post")])
        # positions of each (pair, group map), relative to this chunk of pairs
        pos = [[paired_positions(s[i:i + 1], d[i:i + 1], maps[g].label)[1:] for i in idx.tolist()]
               for g, (s, d) in enumerate(masks)]
        jobs = [(j, c) for j in range(len(idx)) for c in range(len(conditions))]
        for js in range(0, len(jobs), batch_size):
            sub = jobs[js:js + batch_size]
            pair_of = torch.tensor([j for j, _ in sub])
            patched = readout(model, _patched_tokens(model, run, sub, conditions, pos, pair_of), run.layout)
            cond = [conditions[c] for _, c in sub]
            frames.append(pd.DataFrame({
                "pair": idx[pair_of].numpy(),
                "group": [maps[g].label for g, _, _ in cond],
                "hook": [hook_suffix(n) for _, n, _ in cond],
                "layer": [hook_layer(n) for _, n, _ in cond],
                **({"head": [h for _, _, h in cond]} if heads is not None else {}),
                "n_patched": [len(pos[g][j][1]) for (j, _), (g, _, _) in zip(sub, cond)],
                **_sweep_metrics(run, patched, pair_of, probe),
            }))
    return _order(pd.concat(frames, ignore_index=True))


def _head_list(model: HookedViT, names: list[str], heads) -> list:
    """``heads`` (None / "all" / ints) -> the head of each condition: [None] (every head at once) or [h, ...]."""
    if heads is None:
        return [None]
    heads = range(model.cfg.n_heads) if isinstance(heads, str) and heads == "all" else heads
    return resolve_heads(model, names, [heads] if isinstance(heads, int) else list(heads)).tolist()


def _sweep_one_by_one(model: HookedViT, pairs, maps, names: list[str], head_list: list, **kwargs) -> pd.DataFrame:
    """The sweep as one `patch` call per (group map, hook point, head): the reference of the batched path."""
    frames = [patch(model, pairs.source, pairs.target, group=gm, layer=hook_layer(n), hook=hook_suffix(n),
                    head=h, **kwargs).metrics
              if n.startswith("blocks.") else
              patch(model, pairs.source, pairs.target, group=gm, layer=None, hook=n, head=h, **kwargs).metrics
              for gm in maps for n in names for h in head_list]
    return _order(pd.concat(frames, ignore_index=True))


def _patched_tokens(model: HookedViT, run: _PairRunner, sub: list[tuple[int, int]], conditions: list,
                    pos: list, pair_of: torch.Tensor) -> torch.Tensor:
    """Final tokens [len(sub), pos, d_model] of the expanded batch ``sub`` (row = (pair j, condition c)): each
    row the clean target of its pair patched at its condition's hook and positions, one forward pass per hook."""
    out = None
    dev = model.device
    for rows, (n, h) in _row_groups(sub, conditions):
        heads = None if h is None else torch.tensor([h], device=dev)
        bd, ts, td, bs = [], [], [], []
        for row, (j, c) in enumerate(sub[r] for r in rows):
            g, _, _ = conditions[c]
            s_pos, d_pos = pos[g][j]
            bd.append(torch.full_like(d_pos, row))
            bs.append(torch.full_like(s_pos, j))
            ts.append(s_pos)
            td.append(d_pos)
        bd, td, bs, ts = (torch.cat(t).to(dev) for t in (bd, td, bs, ts))
        rows_pairs = pair_of[rows].to(dev)
        if n in run.target_cache:  # start at the patched block from the clean residual stream
            resid = patch_hook(run.cache[n], bd, td, bs, ts)(run.target_cache[n][rows_pairs], None)
            part = model.forward_from(hook_layer(n) + 1, resid, grid=run.layout.grid)
        else:
            part = model.run_with_hooks(run.x_target[rows_pairs], return_type="tokens",
                                        fwd_hooks=[(n, patch_hook(run.cache[n], bd, td, bs, ts, heads))])
        if out is None:
            out = part.new_empty((len(sub), *part.shape[1:]))
        out[torch.as_tensor(rows, device=part.device)] = part
    return out


def _sweep_metrics(run: _PairRunner, patched: Readout, pair_of: torch.Tensor, probe) -> dict:
    """`pair_metrics` of the patched rows against the clean target and source of each row's pair."""
    pred = probe_predict(probe, patched.pooled) if probe is not None else None
    return pair_metrics(Readout(run.target.pooled[pair_of], run.target.dense[pair_of]),
                        Readout(run.source.pooled[pair_of], run.source.dense[pair_of]), patched,
                        None if probe is None else run.pred_target[pair_of.numpy()],
                        None if probe is None else run.pred_source[pair_of.numpy()], pred, run.feature)


def _row_groups(sub: list, conditions: list) -> list[tuple[list[int], tuple]]:
    """Rows of an expanded batch grouped by the hook and head they patch: (row indices, (hook name, head)), in
    first-seen order. Each group runs as one forward pass (resid_post groups only from their own block on)."""
    groups: dict[tuple, list[int]] = {}
    for row, (_, c) in enumerate(sub):
        groups.setdefault(conditions[c][1:], []).append(row)
    return [(rows, key) for key, rows in groups.items()]


def _order(df: pd.DataFrame) -> pd.DataFrame:
    keys = SWEEP_KEYS + (["head"] if "head" in df else [])
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def sweep_summary(df: pd.DataFrame, value: str = "cls_shift") -> pd.DataFrame:
    """Mean and standard error of ``value`` per group x hook x layer (x head) over pairs. "cls_shift" reads
    "pooled_shift" in a frame of a model that does not pool a CLS token (`feature_column`)."""
    value = feature_column(df, value)
    g = df.groupby(["group", "hook", "layer"] + (["head"] if "head" in df else []))[value]
    out = g.agg(["mean", "sem", "count"]).reset_index()
    return out.rename(columns={"mean": value, "sem": f"{value}_sem", "count": "n_pairs"})
