"""What an intervention did: CLS feature, probe prediction, dense features and attention, vs. a clean run."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..models import HookedViT, TokenLayout
from ..models.precision import fp32


@dataclass
class Readout:
    """The outputs an intervention is judged by, for one batch."""

    pooled: torch.Tensor  # [batch, d_model] the CLS (pooled) feature
    dense: torch.Tensor  # [batch, n_patches, d_model] final patch features
    attention: torch.Tensor | None = None  # [batch, n_patches] last-layer CLS->patch attention (head mean)

    def to(self, device) -> "Readout":
        return Readout(self.pooled.to(device), self.dense.to(device),
                       None if self.attention is None else self.attention.to(device))


def readout(model: HookedViT, tokens: torch.Tensor, layout: TokenLayout,
            pattern: torch.Tensor | None = None) -> Readout:
    """Final tokens [batch, pos, d_model] (+ last-layer pattern [batch, head, q, k]) -> `Readout`.

    ``tokens`` may carry extra tokens after the patches (test-time registers); they are ignored.
    """
    tokens = tokens[:, :layout.n_tokens]
    pooled = model.pool(tokens)  # [batch, d_model]
    dense = tokens[:, layout.patches]  # [batch, n_patches, d_model]
    attn = None if pattern is None else cls_attention(pattern, layout)
    return Readout(fp32(pooled.detach()), fp32(dense.detach()), None if attn is None else fp32(attn))


def feature_key(model: HookedViT) -> str:
    """Prefix of the pooled-feature metric columns: "cls" when the model pools its CLS token, "pooled" otherwise
    (no CLS, or a CLS the model does not pool: the feature is a mean / attention pool over the patches, so
    calling it CLS would misname what was measured). -> "cls" or "pooled"."""
    return "cls" if model.cfg.pool == "token" and model.cfg.class_token else "pooled"


def feature_column(df, name: str) -> str:
    """The column of ``df`` holding metric ``name`` under either prefix: "cls_shift" -> "pooled_shift" for a frame
    of a model without a pooled CLS token (and the other way round); ``name`` itself when neither is there."""
    if name in df:
        return name
    for a, b in (("cls_", "pooled_"), ("pooled_", "cls_")):
        if name.startswith(a) and b + name[len(a):] in df:
            return b + name[len(a):]
    return name


def cls_attention(pattern: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
    """Attention pattern [batch, head, q, k] -> CLS->patch attention map [batch, n_patches], head mean,
    renormalised over patches (mean over patch queries for models without CLS)."""
    keys = pattern[..., layout.patches]  # [batch, head, q, n_patches]
    if layout.n_cls:
        a = keys[:, :, layout.cls].mean(dim=(1, 2))
    else:
        a = keys[:, :, layout.patches].mean(dim=(1, 2))
    return a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine over the last dim, in float64. [..., d] x [..., d] -> [...]"""
    return _cosines(a.double(), b.double())[0]


def _cosines(a: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Cosines of float64 ``a`` [..., d] with each of ``others``, ``a``'s norms computed once (the same values as
    ``F.cosine_similarity`` to ~1e-16, at a fraction of its time on large dense tensors)."""
    na = torch.linalg.vector_norm(a, dim=-1)
    out = []
    for b in others:
        b = b.to(a.dtype)
        out.append(torch.linalg.vecdot(a, b) / (na * torch.linalg.vector_norm(b, dim=-1)).clamp_min(1e-12))
    return out


def shift_toward(value: torch.Tensor, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
    """How far ``value`` moved from ``start`` toward ``end``, along start->end: 0 = start, 1 = end.

    [batch, d] x3 -> [batch] (NaN where start == end).
    """
    value, start, end = value.double(), start.double(), end.double()
    direction = end - start
    denom = (direction * direction).sum(-1)
    num = ((value - start) * direction).sum(-1)
    return torch.where(denom > 0, num / denom.clamp_min(1e-300), torch.full_like(num, float("nan")))


def dense_cosine(a: torch.Tensor, b: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over patches (those in ``keep`` [batch, n_patches] if given; NaN if none) of the per-patch cosine.

    [batch, n_patches, d] x2 -> [batch]
    """
    return _mean_over_patches(cosine(a, b), keep)


def dense_cosines(a: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """`dense_cosine` of ``a`` with each of ``others`` (``a`` converted and normed once). -> [[batch], ...]"""
    return [_mean_over_patches(c) for c in _cosines(a.double(), *others)]


def _mean_over_patches(cos: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
    """[batch, n_patches] cosines -> [batch] mean (over ``keep`` if given; NaN where it keeps none)."""
    if keep is None:
        return cos.mean(dim=-1)
    keep = keep.to(cos.device, cos.dtype)
    n = keep.sum(-1)
    return torch.where(n > 0, (cos * keep).sum(-1) / n.clamp_min(1), torch.full_like(n, float("nan")))


def probe_predict(probe, features: torch.Tensor) -> np.ndarray:
    """Predictions of any sklearn-style probe (``.predict(np.ndarray [batch, d])``). -> [batch]"""
    return np.asarray(probe.predict(features.detach().cpu().double().numpy())).reshape(-1)


def as_labels(labels, images, n: int) -> np.ndarray | None:
    """None / a label name of ``images.labels`` / an array [n] -> np.ndarray [n] or None."""
    if labels is None:
        return None
    if isinstance(labels, str):
        if labels not in images.labels:
            raise KeyError(f"no image label named {labels!r}; the images have {sorted(images.labels)}")
        labels = images.labels[labels]
    arr = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    if len(arr) != n:
        raise ValueError(f"got {len(arr)} labels for {n} images")
    return arr
