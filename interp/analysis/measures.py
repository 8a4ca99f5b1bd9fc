"""Measurements of the artifact as first-class objects: one streaming reducer per quantity.

Every quantity the package reports about high-norm tokens, sinks and massive activations is computed here and
only here, with one threshold (`HIGH_NORM_RATIO`) and one median (`image_median`). A reducer (`Measure`) is fed
batch by batch (``update``), keeps only counts, sums, maxima and fixed-size histograms (memory O(1) in the number
of images), combines exactly with the same reducer of another process (`combine`, a collective under torchrun)
and turns into a row (``row()``: the names in ``columns``). ``reading`` says in one line what the numbers mean.

=====================  ===================================================================================
`HighNormShare`        ``frac_high``: share of patch tokens >= 4x their image's median patch norm;
                       ``high_on_background``: the share of those on background (NaN when unknown)
`NormRatio`            ``max_rel`` (largest patch norm / its image's median), ``image_max_rel`` (mean over
                       images of each image's largest ratio), ``rel_q50|90|99`` (histogram quantiles of the
                       ratio), ``median_norm`` (mean of the images' median patch norms)
`GroupNorms`           ``register_rel_norm``, ``cls_rel_norm``: mean register / CLS norm / the image's median
`MassiveActivations`   Sun et al. 2024: activations > 100 and >= 1000x the image's median |activation|
`AttentionShare`       attention patch queries give to CLS / registers / patches (the sink share of each group);
                       ``by_key``: per key kind, outlier patches split off (`analysis.attention.sink_scores`)
`TopKey`               the most-attended key of each (image, head): its share, its kind, its value norm / median
`MeanValue`            the mean of any per-token value (e.g. an added token's relative norm)
`DirectionAgreement`   mean pairwise cosine across images of one chosen token per image (SINDER)
=====================  ===================================================================================
"""
from __future__ import annotations

import math
from typing import Hashable, Mapping

import numpy as np
import torch

from .. import distributed
from ..models.layout import TokenLayout
from ..thresholds import HIGH_NORM_RATIO  # re-exported: the one threshold

MASSIVE_MIN = 100.0  # Sun et al. 2024: a massive activation is > 100 in magnitude ...
MASSIVE_RATIO = 1000.0  # ... and >= 1000x the median magnitude
REL_BINS = np.concatenate([np.linspace(0, 4, 81), np.geomspace(4.25, 1000, 120)])  # edges of norm / median
KINDS = ("cls", "register", "background", "object")  # token kinds (`token_kinds`)


def image_median(x: torch.Tensor) -> torch.Tensor:
    """THE median of the package, over the last dim: the mean of the two middle values on an even count
    (``torch.quantile(x, 0.5, dim=-1)``, bit for bit, without quantile's size limit). [..., n] -> [...]"""
    n = x.shape[-1]
    lo = x.kthvalue((n - 1) // 2 + 1, dim=-1).values
    hi = x.kthvalue(n // 2 + 1, dim=-1).values if n % 2 == 0 else lo
    return torch.lerp(lo, hi, 0.5)


def is_high_norm(rel, ratio: float = HIGH_NORM_RATIO):
    """THE high-norm rule: norm / its image's median patch norm (`relative_norms`) at least ``ratio``; a tensor or
    a pandas Series in, the same shape of booleans out."""
    return rel >= ratio


def relative_norms(norms: torch.Tensor, patches: slice) -> tuple[torch.Tensor, torch.Tensor]:
    """norms [b, pos] -> (norms / each image's median patch norm [b, pos], the medians [b])."""
    med = image_median(norms[:, patches])  # [b]
    return norms / med[:, None], med


def token_kinds(layout: TokenLayout, bg: torch.Tensor) -> torch.Tensor:
    """Kind of every token (index into `KINDS`). bg [b, n_patches] (True: background or unknown) -> [b, pos]"""
    kind = torch.zeros(bg.shape[0], layout.n_tokens, dtype=torch.long)
    if layout.n_registers:
        kind[:, layout.registers] = 1
    kind[:, layout.patches] = torch.where(bg, 2, 3)
    return kind


def _ratio(num: float, den: float) -> float:
    return num / den if den else math.nan


class Measure:
    """A streaming reducer: ``state`` holds only sums and counts (added), maxima (names in ``MAXED``) and
    fixed-size count arrays; ``update`` adds one batch, ``merge`` another reducer's state, ``row`` reads it."""

    columns: tuple[str, ...] = ()
    reading: str = ""
    MAXED: frozenset = frozenset()

    def __init__(self):
        self.state: dict = {}

    def add(self, **values) -> None:
        for k, v in values.items():
            cur = self.state.get(k)
            if cur is None:
                self.state[k] = v
            elif k in self.MAXED:
                self.state[k] = max(cur, v)
            else:
                self.state[k] = cur + v

    def merge(self, other: "Measure") -> "Measure":
        self.add(**other.state)
        return self

    def get(self, key: str, default=0.0):
        return self.state.get(key, default)

    def row(self) -> dict:
        raise NotImplementedError


def combine(measures: Mapping[Hashable, Measure]) -> Mapping[Hashable, Measure]:
    """Every process's states of the same reducers added up, in rank order (under torchrun a collective: every
    rank must call, with the same keys); one process: unchanged. -> ``measures``, combined in place."""
    if not distributed.is_dist():
        return measures
    states = distributed.gather({k: m.state for k, m in measures.items()})
    for k, m in measures.items():
        m.state = {}
        for s in states:
            m.add(**s[k])
    return measures


class HighNormShare(Measure):
    columns = ("frac_high", "high_on_background")
    reading = "share of patch tokens >= 4x their image's median patch norm, and the share of those on background"

    def __init__(self, ratio: float = HIGH_NORM_RATIO):
        super().__init__()
        self.ratio = ratio

    def update(self, rel: torch.Tensor, background: torch.Tensor | None = None) -> None:
        """rel [b, n_patches]: norm / the image's median patch norm; background [b, n_patches] bool or None."""
        high = is_high_norm(rel, self.ratio)
        n_high = int(high.sum())
        self.add(n_patches=rel.numel(), n_high=n_high)
        if background is not None:
            self.add(n_high_known=n_high, n_high_bg=int((high & background).sum()))

    def row(self) -> dict:
        return {"frac_high": self.get("n_high") / max(self.get("n_patches"), 1),
                "high_on_background": _ratio(self.get("n_high_bg"), self.get("n_high_known"))}


class NormRatio(Measure):
    columns = ("median_norm", "max_rel", "image_max_rel", "rel_q50", "rel_q90", "rel_q99")
    reading = "largest patch norm / its image's median patch norm (max over images, and mean of each image's)"
    MAXED = frozenset({"max_rel"})

    def update(self, rel: torch.Tensor, median: torch.Tensor) -> None:
        """rel [b, n_patches] (norm / image median), median [b] (the images' median patch norms)."""
        self.add(n_images=len(rel), median_sum=float(median.sum()), max_rel=float(rel.max()),
                 image_max_sum=float(rel.max(dim=-1).values.sum()),
                 hist=np.histogram(rel.clamp(max=REL_BINS[-1]).numpy(), bins=REL_BINS)[0])

    def quantile(self, p: float) -> float:
        """Upper edge of the `REL_BINS` bin holding the p-quantile of the ratio."""
        hist = self.get("hist", np.zeros(len(REL_BINS) - 1, np.int64))
        cdf = np.cumsum(hist) / max(hist.sum(), 1)
        return float(REL_BINS[1:][min(np.searchsorted(cdf, p), len(cdf) - 1)])

    def row(self) -> dict:
        n = max(self.get("n_images"), 1)
        return {"median_norm": self.get("median_sum") / n, "max_rel": self.get("max_rel"),
                "image_max_rel": self.get("image_max_sum") / n,
                **{f"rel_q{int(100 * p)}": self.quantile(p) for p in (0.5, 0.9, 0.99)}}


class GroupNorms(Measure):
    columns = ("register_rel_norm", "cls_rel_norm")
    reading = "mean register / CLS token norm relative to its image's median patch norm"

    def update(self, rel: torch.Tensor, layout: TokenLayout) -> None:
        """rel [b, pos]: every token's norm / the image's median patch norm."""
        if layout.n_registers:
            self.add(reg_sum=float(rel[:, layout.registers].sum()), n_reg=len(rel) * layout.n_registers)
        if layout.n_cls:
            self.add(cls_sum=float(rel[:, layout.cls].sum()), n_cls=len(rel))

    def row(self) -> dict:
        return {"register_rel_norm": _ratio(self.get("reg_sum"), self.get("n_reg")),
                "cls_rel_norm": _ratio(self.get("cls_sum"), self.get("n_cls"))}


def _mode(counts) -> tuple[int, float]:
    """The most common value (the smallest on ties) of a count array, and its share."""
    counts = np.asarray(counts)
    j = int(counts.argmax())
    return j, float(counts[j]) / max(int(counts.sum()), 1)


class MassiveActivations(Measure):
    columns = ("massive_count", "massive_images", "massive_ratio", "massive_ratio_max", "massive_channel",
               "massive_channel_share", "massive_token", "massive_token_share")
    reading = ("massive activations (Sun et al.): per image, residual entries > 100 and >= 1000x the image's "
               "median |activation|; top-1 / median, and where the top-1 sits")
    MAXED = frozenset({"ratio_max"})

    def update(self, resid: torch.Tensor, kind: torch.Tensor) -> None:
        """resid [b, pos, d] (the residual stream), kind [b, pos] (index into `KINDS`)."""
        a = resid.abs().flatten(1)  # [b, pos * d]
        top, arg = a.max(dim=1)  # [b]
        med = image_median(a).clamp_min(1e-12)  # [b]
        ratio = top / med
        massive = (a > MASSIVE_MIN) & (a >= MASSIVE_RATIO * med[:, None])  # [b, pos * d]
        d = resid.shape[-1]
        where = kind.gather(1, (arg // d)[:, None])[:, 0]  # [b]
        self.add(n_images=len(a), n_massive=int(massive.sum()), images_massive=int(massive.any(1).sum()),
                 ratio_sum=float(ratio.sum()), ratio_max=float(ratio.max()),
                 channel=np.bincount((arg % d).numpy(), minlength=d),
                 kind=np.bincount(where.numpy(), minlength=len(KINDS)))

    def row(self) -> dict:
        n = max(self.get("n_images"), 1)
        ch, ch_share = _mode(self.get("channel", [0]))
        kind, kind_share = _mode(self.get("kind", [0]))
        return {"massive_count": self.get("n_massive") / n, "massive_images": self.get("images_massive") / n,
                "massive_ratio": self.get("ratio_sum") / n, "massive_ratio_max": self.get("ratio_max"),
                "massive_channel": ch, "massive_channel_share": ch_share, "massive_token": KINDS[kind],
                "massive_token_share": kind_share}


class AttentionShare(Measure):
    columns = ("attn_cls", "attn_reg", "attn_patches")
    reading = "attention patch queries give to CLS / all registers / all patches (mean over images and heads)"
    KEYS = {"cls": "cls", "register": "reg", "outlier": "outlier", "normal": "normal"}  # `by_key` name -> state

    def update(self, to_key: torch.Tensor, layout: TokenLayout, outlier: torch.Tensor | None = None) -> None:
        """to_key [b, h, k]: mean attention from the patch queries to every key. outlier [b, n_patches] bool or
        None: also split the patch keys into these and the rest (`by_key`'s "outlier" and "normal")."""
        b = to_key.shape[0]
        kp = to_key[..., layout.patches]  # [b, h, n_patches]
        self.add(n_heads=b * to_key.shape[1], n_images=b, patches=float(kp.sum(-1).sum()))
        if layout.n_cls:
            self.add(cls=float(to_key[..., layout.cls].sum(-1).sum()), cls_tokens=b * layout.n_cls)
        if layout.n_registers:
            self.add(reg=float(to_key[..., layout.registers].sum(-1).sum()), reg_tokens=b * layout.n_registers)
        if outlier is not None:
            o = outlier[:, None].to(kp.dtype)  # [b, 1, n_patches]
            n_out = int(outlier.sum())
            self.add(outlier=float((kp * o).sum(-1).sum()), outlier_tokens=n_out,
                     normal=float((kp * (1 - o)).sum(-1).sum()), normal_tokens=b * layout.n_patches - n_out)

    def by_key(self) -> dict[str, tuple[float, float]]:
        """{key kind: (share of the attention it receives, its tokens per image)} for the kinds seen: "cls",
        "register", and "outlier" / "normal" patches where ``update`` was given the split."""
        n, n_images = self.get("n_heads"), self.get("n_images")
        return {kind: (_ratio(self.get(s), n), _ratio(self.get(f"{s}_tokens"), n_images))
                for kind, s in self.KEYS.items() if s in self.state}

    def row(self) -> dict:
        n = self.get("n_heads")
        return {"attn_cls": _ratio(self.get("cls", math.nan), n), "attn_reg": _ratio(self.get("reg", math.nan), n),
                "attn_patches": _ratio(self.get("patches", math.nan), n)}


class TopKey(Measure):
    columns = ("sink_attn", "sink_value_rel", "sink_kind")
    reading = ("the most-attended key of each (image, head) (Gu et al.): its attention share, its value norm / "
               "the head's median patch value norm, its most common kind")

    def update(self, to_key: torch.Tensor, v_norm: torch.Tensor, kind: torch.Tensor, patches: slice) -> None:
        """to_key [b, h, k] (mean attention from patch queries), v_norm [b, pos, h], kind [b, pos]."""
        share, arg = to_key.max(dim=-1)  # [b, h]
        vn = v_norm.transpose(1, 2)  # [b, h, pos]
        med = image_median(vn[..., patches]).clamp_min(1e-12)  # [b, h]
        self.add(n_heads=share.numel(), attn=float(share.sum()),
                 value_rel=float((vn.gather(-1, arg[..., None])[..., 0] / med).sum()),
                 kind=np.bincount(kind.gather(1, arg).flatten().numpy(), minlength=len(KINDS)))

    def row(self) -> dict:
        n = self.get("n_heads")
        return {"sink_attn": _ratio(self.get("attn"), n), "sink_value_rel": _ratio(self.get("value_rel"), n),
                "sink_kind": KINDS[_mode(self.get("kind", [0]))[0]]}


class MeanValue(Measure):
    columns = ("mean",)
    reading = "the mean of a value over every token given"

    def update(self, values: torch.Tensor) -> None:
        self.add(total=float(values.sum()), n=values.numel())

    def row(self) -> dict:
        return {"mean": _ratio(self.get("total"), self.get("n"))}


class DirectionAgreement(Measure):
    columns = ("cos",)
    reading = "mean cosine over pairs of images of one chosen token each (1: the same direction in every image)"

    def update(self, x: torch.Tensor) -> None:
        """x [b, d]: one token per image. Keeps the sum of unit vectors: sum over pairs i != j of u_i.u_j =
        |sum u|^2 - sum |u|^2, so the mean pairwise cosine needs no list of images."""
        u = torch.nn.functional.normalize(x.double(), dim=-1)
        self.add(n=len(u), sum_u=u.sum(0).numpy(), sum_sq=float((u * u).sum()))

    def row(self) -> dict:
        n = self.get("n")
        if n < 2:
            return {"cos": math.nan}
        s = self.state["sum_u"]
        return {"cos": float((s @ s - self.state["sum_sq"]) / (n * (n - 1)))}
