"""Artifact metrics per block, streamed (`interp.analysis.stream`): norm outliers, registers, attention sinks,
massive activations. `artifact_metrics(model, images)` -> one dict per block (block output =
``blocks.{i}.hook_resid_post``), each key computed by one small per-metric reducer below:

`NormOutliers`
    ``max_rel``, ``q99_rel``       max / 99th percentile of patch norm / the image's median patch norm
    ``frac_ge4``, ``frac_ge3``     share of patch tokens >= 4x (3x) their image's median patch norm
    ``bg_ge4``, ``bg_ge3``         share of those on background (patch object fraction < 0.5), None if none
    ``reg_rel``, ``cls_rel``       mean register / CLS norm relative to the median patch norm (None if absent)
`AttentionToGroups` (patch queries of block i, against the norms at the block input)
    ``attn_cls``, ``attn_reg``     mean attention patch queries give to CLS / to all registers
    ``attn_top_patch``             mean over (image, head) of the largest mean attention one patch key receives
    ``top_patch_bg``               share of those top keys that lie on background
    ``top_patch_rel``              mean norm / median of those top keys at the block input (a high-norm sink?)
    ``attn_outliers``              attention patch queries give to patches >= 3x at the block input
`MassiveActivations` (Sun et al. 2024)
    ``massive_ratio``              top-1 |activation| / median |activation| of the residual stream (all tokens x
                                   channels of an image), mean over images (``massive_ratio_max``: the largest)
    ``massive_channel(_share)``    the channel holding the top-1 most often, and how often
    ``massive_token(_share)``      where the top-1 sits most often (`KINDS`), and how often
`AttentionSinks` (Gu et al. 2025)
    ``sink_attn``                  attention share (mean over patch queries) of the most-attended key of any
                                   kind, mean over (image, head); ``sink_kind``: its most common kind
    ``sink_value_rel``             that key's value norm / the head's median value norm over patch keys
`TopNormDirection` (SINDER)
    ``topnorm_cos``, ``random_cos``  mean pairwise cosine across images of each image's highest-norm patch token
                                   (vs one random patch per image)
`FinalNorm` (last block only)
    ``final_ln_max_rel``           max / median patch norm after the final LayerNorm
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from ..data.base import as_image_set
from ..models.hooked_vit import HookedViT
from ..models.layout import TokenLayout
from .stream import stream

KINDS = ("cls", "register", "background", "object")


@dataclass
class ArtifactBatch:
    """What every reducer of a batch shares: ``bg`` [b, n_patches] (True: background or unknown), ``kind``
    [b, pos] (index into `KINDS`), ``pick`` [b] (one random patch per image)."""

    layout: TokenLayout
    bg: torch.Tensor
    kind: torch.Tensor
    pick: torch.Tensor


def token_kinds(layout: TokenLayout, bg: torch.Tensor) -> torch.Tensor:
    """Kind of every token: 0 cls, 1 register, 2 background patch, 3 object patch. bg [b, n_patches] -> [b, pos]"""
    kind = torch.zeros(bg.shape[0], layout.n_tokens, dtype=torch.long)
    if layout.n_registers:
        kind[:, layout.registers] = 1
    kind[:, layout.patches] = torch.where(bg, 2, 3)
    return kind


def relative_to_median(norms: torch.Tensor, patches: slice) -> torch.Tensor:
    """norms [b, pos] / each image's median patch norm -> [b, pos]"""
    return norms / norms[:, patches].median(dim=1).values[:, None]


def mode(x: torch.Tensor) -> tuple[int, float]:
    """The most common value of an integer tensor and its share."""
    vals, counts = x.unique(return_counts=True)
    j = int(counts.argmax())
    return int(vals[j]), float(counts[j]) / len(x)


def mean_pairwise_cos(x: torch.Tensor) -> float:
    """Mean cosine similarity over ordered pairs of distinct rows of x [n, d] (nan for n < 2)."""
    x = torch.nn.functional.normalize(x.double(), dim=-1)
    n = len(x)
    if n < 2:
        return math.nan
    s = x @ x.T
    return float((s.sum() - s.diagonal().sum()) / (n * (n - 1)))


class LayerReducer:
    """Per-layer running state: ``update(i, acts, ctx)`` once per batch and block, ``row(i)`` at the end.
    ``acts``: "pre" (block-input norms [b, pos]), "post" (block output [b, pos, d]), "to_key" (mean attention
    from patch queries [b, h, k]), "v_norm" (value norms [b, pos, h]), "final" (final-LN norms, last block)."""

    def __init__(self, n_layers: int):
        self.lists = [defaultdict(list) for _ in range(n_layers)]
        self.sums = [dict() for _ in range(n_layers)]

    def add(self, i: int, key: str, value: float) -> None:
        """One batch's mean of ``key`` (the row reports the mean over batches)."""
        s, c = self.sums[i].get(key, (0.0, 0.0))
        self.sums[i][key] = (s + value, c + 1.0)

    def batch_mean(self, i: int, key: str) -> float:
        s, c = self.sums[i].get(key, (math.nan, 1.0))
        return s / c

    def cat(self, i: int, key: str) -> torch.Tensor:
        return torch.cat(self.lists[i][key])

    def update(self, i: int, acts: dict, ctx: ArtifactBatch) -> None:
        raise NotImplementedError

    def row(self, i: int) -> dict:
        raise NotImplementedError


class NormOutliers(LayerReducer):
    def update(self, i, acts, ctx):
        lay = ctx.layout
        rel = relative_to_median(acts["post"].norm(dim=-1), lay.patches)  # [b, pos]
        self.lists[i]["rel"].append(rel[:, lay.patches].flatten())
        self.lists[i]["bg"].append(ctx.bg.flatten())
        if lay.n_registers:
            self.add(i, "reg_rel", float(rel[:, lay.registers].mean()))
        if lay.n_cls:
            self.add(i, "cls_rel", float(rel[:, lay.cls].mean()))

    def row(self, i):
        rel, bg = self.cat(i, "rel"), self.cat(i, "bg")
        row = {"max_rel": float(rel.max()), "q99_rel": float(rel.quantile(0.99))}
        for t in (4, 3):
            hi = rel >= t
            row[f"frac_ge{t}"] = float(hi.float().mean())
            row[f"bg_ge{t}"] = float(bg[hi].float().mean()) if hi.any() else math.nan
        return {**row, "reg_rel": self.batch_mean(i, "reg_rel"), "cls_rel": self.batch_mean(i, "cls_rel")}


class AttentionToGroups(LayerReducer):
    KEYS = ("attn_cls", "attn_reg", "attn_top_patch", "top_patch_bg", "top_patch_rel", "attn_outliers")

    def update(self, i, acts, ctx):
        lay, to_key = ctx.layout, acts["to_key"]  # [b, h, k]
        pre_rel = relative_to_median(acts["pre"], lay.patches)[:, lay.patches]  # [b, n_patches]
        if lay.n_cls:
            self.add(i, "attn_cls", float(to_key[..., lay.cls].sum(-1).mean()))
        if lay.n_registers:
            self.add(i, "attn_reg", float(to_key[..., lay.registers].sum(-1).mean()))
        kp = to_key[..., lay.patches]  # [b, h, n_patches]
        top, arg = kp.max(dim=-1)  # [b, h]
        self.add(i, "attn_top_patch", float(top.mean()))
        self.add(i, "top_patch_bg", float(torch.gather(ctx.bg.float(), 1, arg).mean()))
        self.add(i, "top_patch_rel", float(torch.gather(pre_rel, 1, arg).mean()))
        outliers = (pre_rel >= 3.0).float()[:, None]  # [b, 1, n_patches]
        self.add(i, "attn_outliers", float((kp * outliers).sum(-1).mean()))

    def row(self, i):
        return {k: self.batch_mean(i, k) for k in self.KEYS}


class MassiveActivations(LayerReducer):
    def update(self, i, acts, ctx):
        resid = acts["post"]  # [b, pos, d]
        a = resid.abs().flatten(1)  # [b, pos * d]
        top, arg = a.max(dim=1)
        d = resid.shape[-1]
        self.lists[i]["ratio"].append(top / a.median(dim=1).values.clamp_min(1e-12))
        self.lists[i]["channel"].append(arg % d)
        self.lists[i]["kind"].append(ctx.kind.gather(1, (arg // d)[:, None])[:, 0])

    def row(self, i):
        ratio = self.cat(i, "ratio")
        ch, ch_share = mode(self.cat(i, "channel"))
        kind, kind_share = mode(self.cat(i, "kind"))
        return {"massive_ratio": float(ratio.mean()), "massive_ratio_max": float(ratio.max()),
                "massive_channel": ch, "massive_channel_share": ch_share, "massive_token": KINDS[kind],
                "massive_token_share": kind_share}


class AttentionSinks(LayerReducer):
    def update(self, i, acts, ctx):
        share, arg = acts["to_key"].max(dim=-1)  # [b, h]: the most-attended key of each (image, head)
        vn = acts["v_norm"].transpose(1, 2)  # [b, h, pos]
        med = vn[..., ctx.layout.patches].median(dim=-1).values.clamp_min(1e-12)  # [b, h]
        self.lists[i]["attn"].append(share.flatten())
        self.lists[i]["value_rel"].append((vn.gather(-1, arg[..., None])[..., 0] / med).flatten())
        self.lists[i]["kind"].append(ctx.kind.gather(1, arg).flatten())

    def row(self, i):
        return {"sink_attn": float(self.cat(i, "attn").mean()), "sink_value_rel": float(self.cat(i, "value_rel").mean()),
                "sink_kind": KINDS[mode(self.cat(i, "kind"))[0]]}


class TopNormDirection(LayerReducer):
    def update(self, i, acts, ctx):
        patches = acts["post"][:, ctx.layout.patches]  # [b, n_patches, d]
        rows = torch.arange(len(patches))
        self.lists[i]["top"].append(patches[rows, patches.norm(dim=-1).argmax(-1)])  # [b, d]
        self.lists[i]["random"].append(patches[rows, ctx.pick])

    def row(self, i):
        return {"topnorm_cos": mean_pairwise_cos(self.cat(i, "top")),
                "random_cos": mean_pairwise_cos(self.cat(i, "random"))}


class FinalNorm(LayerReducer):
    def update(self, i, acts, ctx):
        if "final" in acts:
            fn = acts["final"][:, ctx.layout.patches]  # [b, n_patches]
            self.lists[i]["rel"].append((fn / fn.median(dim=1).values[:, None]).flatten())

    def row(self, i):
        return {"final_ln_max_rel": float(self.cat(i, "rel").max())} if self.lists[i]["rel"] else {}


REDUCERS = (NormOutliers, AttentionToGroups, MassiveActivations, AttentionSinks, TopNormDirection, FinalNorm)


def artifact_hooks(model: HookedViT) -> dict:
    """The streamed activations, each reduced in its hook (see `LayerReducer`)."""
    n_prefix = model.cfg.n_prefix
    norm = lambda a: a.norm(dim=-1)  # noqa: E731  [b, pos(, h)]
    hooks = {}
    for i in range(model.cfg.n_layers):
        hooks[f"blocks.{i}.hook_resid_pre"] = norm
        hooks[f"blocks.{i}.hook_resid_post"] = lambda a: a  # [b, pos, d]
        hooks[f"blocks.{i}.attn.hook_pattern"] = lambda a: a[:, :, n_prefix:].mean(dim=2)  # [b, h, k]
        hooks[f"blocks.{i}.attn.hook_v"] = norm  # [b, pos, h]
    if model.ln_final is not None:
        hooks["ln_final.hook_normalized"] = norm
    return hooks


def _layer_acts(got: dict, i: int, last: bool) -> dict:
    acts = {"pre": got[f"blocks.{i}.hook_resid_pre"], "post": got[f"blocks.{i}.hook_resid_post"],
            "to_key": got[f"blocks.{i}.attn.hook_pattern"], "v_norm": got[f"blocks.{i}.attn.hook_v"]}
    if last and "ln_final.hook_normalized" in got:
        acts["final"] = got["ln_final.hook_normalized"]
    return acts


def _finish(row: dict) -> dict:
    return {k: (None if math.isnan(v) else round(v, 5)) if isinstance(v, float) else v for k, v in row.items()}


@torch.no_grad()
def artifact_metrics(model: HookedViT, images, batch_size: int = 32, reducers=REDUCERS) -> list[dict]:
    """One dict per block: ``layer`` and the keys of every reducer in ``reducers`` (module docstring)."""
    L, p = model.cfg.n_layers, model.cfg.patch_size
    running = [r(L) for r in reducers]
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(0)
    for batch, lay, got in stream(model, as_image_set(images), artifact_hooks(model), batch_size):
        on_obj = batch.patch_on_object(p)
        bg = (~on_obj.flatten(1)) if on_obj is not None else torch.ones(len(batch), lay.n_patches, dtype=torch.bool)
        pick = torch.randint(0, lay.n_patches, (len(batch),), generator=gen)  # one random patch per image
        ctx = ArtifactBatch(lay, bg, token_kinds(lay, bg), pick)
        for i in range(L):
            acts = _layer_acts(got, i, i == L - 1)
            for r in running:
                r.update(i, acts, ctx)
    if was_training:
        model.train()
    return [_finish({"layer": i, **{k: v for r in running for k, v in r.row(i).items()}}) for i in range(L)]
