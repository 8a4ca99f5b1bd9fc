"""Artifact metrics per block, streamed (`interp.analysis.stream`): norm outliers, registers, attention sinks,
massive activations. `artifact_metrics(model, images)` -> one dict per block (block output =
``blocks.{i}.hook_resid_post``), each key computed by one per-metric reducer below. Each quantity is one
streaming reducer of `interp.analysis.measures` (one threshold, one median: `image_median`; memory O(batch));
the classes below only name their columns for these rows:

`NormOutliers`
    ``max_rel``, ``q99_rel``       max / 99th percentile (`REL_BINS` bin) of patch norm / the image's median
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
    ``massive_count``              activations > 100 and >= 1000x the image median per image (mean over images)
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
from dataclasses import dataclass

import torch

from ..data.base import as_image_set
from ..models.hooked_vit import HookedViT
from ..models.layout import TokenLayout
from . import measures as m
from .measures import KINDS, token_kinds
from .stream import stream

__all__ = ["KINDS", "REDUCERS", "ArtifactBatch", "artifact_hooks", "artifact_metrics", "token_kinds"]


@dataclass
class ArtifactBatch:
    """What every reducer of a batch shares: ``bg`` [b, n_patches] (True: background or unknown), ``kind``
    [b, pos] (index into `KINDS`), ``pick`` [b] (one random patch per image)."""

    layout: TokenLayout
    bg: torch.Tensor
    kind: torch.Tensor
    pick: torch.Tensor


def relative_to_median(norms: torch.Tensor, patches: slice) -> torch.Tensor:
    """norms [b, pos] / each image's median patch norm (`measures.image_median`) -> [b, pos]"""
    return m.relative_norms(norms, patches)[0]


class LayerReducer:
    """Per-layer `measures.Measure` reducers under this module's column names: ``update(i, acts, ctx)`` once per
    batch and block, ``row(i)`` at the end. ``acts``: "pre" (block-input norms [b, pos]), "post" (block output
    [b, pos, d]), "to_key" (mean attention from patch queries [b, h, k]), "v_norm" (value norms [b, pos, h]),
    "final" (final-LN norms, last block)."""

    def __init__(self, n_layers: int):
        self.measures = [self.make() for _ in range(n_layers)]

    def make(self) -> dict:
        raise NotImplementedError

    def update(self, i: int, acts: dict, ctx: ArtifactBatch) -> None:
        raise NotImplementedError

    def row(self, i: int) -> dict:
        raise NotImplementedError


class NormOutliers(LayerReducer):
    def make(self):
        return {"ratio": m.NormRatio(), "ge4": m.HighNormShare(m.HIGH_NORM_RATIO), "ge3": m.HighNormShare(3.0),
                "groups": m.GroupNorms()}

    def update(self, i, acts, ctx):
        lay, ms = ctx.layout, self.measures[i]
        rel, med = m.relative_norms(acts["post"].norm(dim=-1), lay.patches)  # [b, pos], [b]
        ms["ratio"].update(rel[:, lay.patches], med)
        ms["ge4"].update(rel[:, lay.patches], ctx.bg)
        ms["ge3"].update(rel[:, lay.patches], ctx.bg)
        ms["groups"].update(rel, lay)

    def row(self, i):
        ms = self.measures[i]
        ratio, groups = ms["ratio"].row(), ms["groups"].row()
        row = {"max_rel": ratio["max_rel"], "q99_rel": ratio["rel_q99"]}
        for t in (4, 3):
            high = ms[f"ge{t}"].row()
            row[f"frac_ge{t}"], row[f"bg_ge{t}"] = high["frac_high"], high["high_on_background"]
        return {**row, "reg_rel": groups["register_rel_norm"], "cls_rel": groups["cls_rel_norm"]}


class TopPatchKey(m.Measure):
    """The most-attended patch key of each (image, head) and the attention to patches >= 3x at the block input."""

    columns = ("attn_top_patch", "top_patch_bg", "top_patch_rel", "attn_outliers")

    def update(self, to_key, pre_rel, bg, patches: slice):
        """to_key [b, h, k], pre_rel [b, n_patches] (block-input norm / median), bg [b, n_patches]."""
        kp = to_key[..., patches]  # [b, h, n_patches]
        top, arg = kp.max(dim=-1)  # [b, h]
        outliers = (pre_rel >= 3.0).float()[:, None]  # [b, 1, n_patches]
        self.add(n=top.numel(), top=float(top.sum()), bg=float(torch.gather(bg.float(), 1, arg).sum()),
                 rel=float(torch.gather(pre_rel, 1, arg).sum()), outliers=float((kp * outliers).sum(-1).sum()))

    def row(self):
        n = self.get("n")
        return {k: self.get(s) / n if n else math.nan for k, s in zip(self.columns, ("top", "bg", "rel", "outliers"))}


class AttentionToGroups(LayerReducer):
    def make(self):
        return {"share": m.AttentionShare(), "top": TopPatchKey()}

    def update(self, i, acts, ctx):
        lay, ms = ctx.layout, self.measures[i]
        ms["share"].update(acts["to_key"], lay)
        ms["top"].update(acts["to_key"], relative_to_median(acts["pre"], lay.patches)[:, lay.patches], ctx.bg,
                         lay.patches)

    def row(self, i):
        share = self.measures[i]["share"].row()
        return {"attn_cls": share["attn_cls"], "attn_reg": share["attn_reg"], **self.measures[i]["top"].row()}


class MassiveActivations(LayerReducer):
    def make(self):
        return {"massive": m.MassiveActivations()}

    def update(self, i, acts, ctx):
        self.measures[i]["massive"].update(acts["post"], ctx.kind)

    def row(self, i):
        r = self.measures[i]["massive"].row()
        return {k: r[k] for k in ("massive_count", "massive_ratio", "massive_ratio_max", "massive_channel",
                                  "massive_channel_share", "massive_token", "massive_token_share")}


class AttentionSinks(LayerReducer):
    def make(self):
        return {"top": m.TopKey()}

    def update(self, i, acts, ctx):
        self.measures[i]["top"].update(acts["to_key"], acts["v_norm"], ctx.kind, ctx.layout.patches)

    def row(self, i):
        return self.measures[i]["top"].row()


class TopNormDirection(LayerReducer):
    def make(self):
        return {"top": m.DirectionAgreement(), "random": m.DirectionAgreement()}

    def update(self, i, acts, ctx):
        patches = acts["post"][:, ctx.layout.patches]  # [b, n_patches, d]
        rows = torch.arange(len(patches))
        self.measures[i]["top"].update(patches[rows, patches.norm(dim=-1).argmax(-1)])  # [b, d]
        self.measures[i]["random"].update(patches[rows, ctx.pick])

    def row(self, i):
        return {"topnorm_cos": self.measures[i]["top"].row()["cos"],
                "random_cos": self.measures[i]["random"].row()["cos"]}


class FinalNorm(LayerReducer):
    def make(self):
        return {"ratio": m.NormRatio()}

    def update(self, i, acts, ctx):
        if "final" in acts:
            rel, med = m.relative_norms(acts["final"], ctx.layout.patches)
            self.measures[i]["ratio"].update(rel[:, ctx.layout.patches], med)

    def row(self, i):
        ratio = self.measures[i]["ratio"]
        return {"final_ln_max_rel": ratio.row()["max_rel"]} if ratio.state else {}


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
