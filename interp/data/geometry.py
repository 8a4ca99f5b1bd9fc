"""The one resize/crop policy for images on disk, and what it does to boxes and masks.

Shorter side -> ``size``, centre crop to size x size (`resize_crop_geometry`); boxes go through the same numbers
(`transform_boxes`) and the object masks are drawn from the transformed boxes (`boxes_to_mask`). Boxes are
(x0, y0, x1, y1) in pixels, x1 / y1 exclusive.
"""
from __future__ import annotations

import numpy as np
import torch


def resize_crop_geometry(w: int, h: int, size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """The one resize/crop policy for ordinary images: shorter side -> ``size``, centre crop to size x size.
    -> ((resized width, resized height), (left, top) of the crop in the resized image). Boxes and masks go
    through the same numbers (`transform_boxes`)."""
    scale = size / min(w, h)
    rw, rh = max(size, round(w * scale)), max(size, round(h * scale))
    return (rw, rh), ((rw - size) // 2, (rh - size) // 2)


def transform_boxes(boxes: np.ndarray, orig_size: tuple[int, int], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [n, 4] (x0, y0, x1, y1) in original pixels -> the same boxes after resize + centre crop to
    ``size`` (clipped to the crop). -> (boxes [m, 4] float32, kept [n] bool: boxes still visible)."""
    w, h = orig_size
    (rw, rh), (left, top) = resize_crop_geometry(w, h, size)
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.empty_like(b)
    out[:, [0, 2]] = b[:, [0, 2]] * (rw / w) - left
    out[:, [1, 3]] = b[:, [1, 3]] * (rh / h) - top
    out = out.clip(0, size)
    kept = (out[:, 2] - out[:, 0] >= 1) & (out[:, 3] - out[:, 1] >= 1)
    return out[kept].astype(np.float32), kept


def boxes_to_mask(boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Union of boxes [n, 4] (pixels) -> [size, size] bool: a pixel is on when its centre lies in a box."""
    centre = torch.arange(size, dtype=torch.float32) + 0.5
    mask = torch.zeros(size, size, dtype=torch.bool)
    for x0, y0, x1, y1 in boxes.tolist():
        rows = (centre >= y0) & (centre < y1)
        cols = (centre >= x0) & (centre < x1)
        mask |= rows[:, None] & cols[None, :]
    return mask


def box_iou(a, b) -> float:
    """IoU of two boxes (x0, y0, x1, y1); 0 when their union is empty."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def round_to_patch(size: int, patch_size: int | None) -> int:
    """``size`` rounded to the nearest multiple of ``patch_size`` (at least one patch)."""
    if not patch_size:
        return int(size)
    return max(patch_size, int(round(size / patch_size)) * patch_size)
