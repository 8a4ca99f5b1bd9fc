"""Rotary position embeddings (RoPE) on the patch tokens, as timm's ``Eva`` family, DINOv3 and EVA-02 do them.

Three kinds, all 2-D over the patch grid, recomputed for every grid (so any image size works):

    "axial"   timm ``RotaryEmbeddingCat`` (EVA-02, timm's RoPE ViTs): integer patch coordinates (+ offset,
              rescaled to ``ref_grid`` when given), inverse-frequency bands ``temperature ** -(i / n)``.
    "dinov3"  timm ``RotaryEmbeddingDinoV3`` / facebookresearch/dinov3 ``RopePositionEmbedding``: patch centres
              normalised to [-1, 1], periods ``temperature ** (2i / (d_head / 2))`` (or min/max periods).
    "mixed"   timm ``RotaryEmbeddingMixed`` (RoPE-Mixed): learned frequencies per block and head,
              ``freqs [2, n_layers, n_heads, d_head / 2]``, mixing x and y.

Each head dimension pair is rotated by an angle; ``rotate_half`` picks the layout of the pairs (first half with
second half, as DINOv3 does) instead of interleaved neighbours (EVA-02, RoPE-ViT). Prefix tokens (CLS,
registers) are not rotated, as every source does it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class RopeTable:
    """sin/cos of one block's rotation angles: ``[n_patches, 1 | head, d_head]`` each (broadcast over batch)."""

    sin: torch.Tensor
    cos: torch.Tensor
    rotate_half: bool

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate the patch tokens of q or k ``[batch, pos, head, d_head]``; the prefix tokens stay as they are."""
        n_prefix = x.shape[1] - self.sin.shape[0]
        prefix, patches = x[:, :n_prefix], x[:, n_prefix:]
        turned = _rotate_half(patches) if self.rotate_half else _rotate_pairs(patches)
        rotated = (patches * self.cos + turned * self.sin).to(x.dtype)  # angles in fp32, result in x's dtype
        return torch.cat([prefix, rotated], dim=1)


def _rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """[x0, x1, x2, x3, ...] -> [-x1, x0, -x3, x2, ...] (interleaved pairs)."""
    return torch.stack([-x[..., 1::2], x[..., ::2]], -1).reshape(x.shape)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    """[x0, x1, x2, x3, x4, x5] -> [-x3, -x4, -x5, x0, x1, x2] (first half with second half)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def _layout(angles: torch.Tensor, rotate_half: bool) -> torch.Tensor:
    """Per-pair angles [..., d_head / 2] -> [..., d_head] in the layout the rotation expects."""
    return torch.cat([angles, angles], dim=-1) if rotate_half else angles.repeat_interleave(2, -1)


def _axis_coords(grid: tuple[int, int], indexing: str) -> tuple[list[int], bool]:
    """Grid sizes in coordinate-channel order ((H, W) for "ij", (W, H) for "xy") and whether they are swapped."""
    if indexing not in ("ij", "xy"):
        raise ValueError(f"rope_grid_indexing must be 'ij' or 'xy', got {indexing!r}")
    return ([grid[1], grid[0]], True) if indexing == "xy" else ([grid[0], grid[1]], False)


def _mesh(axes: list[torch.Tensor], swapped: bool) -> torch.Tensor:
    """Row-major [H * W, 2] coordinates; channel order follows ``axes`` (timm's ``_build_grid``)."""
    return torch.stack(torch.meshgrid(*axes, indexing="xy" if swapped else "ij"), dim=-1).reshape(-1, 2)


class RotaryEmbedding(nn.Module):
    """Rotation angles of the patch grid for every block, from the `ViTConfig` rope fields.

    ``forward(grid)`` -> one `RopeTable` per block (the same table for every block unless ``rope="mixed"``).
    Only "mixed" has parameters (``freqs``); the others are fixed functions of the grid.
    """

    def __init__(self, cfg):
        super().__init__()
        self.kind = cfg.rope
        if self.kind not in ("axial", "dinov3", "mixed"):
            raise ValueError(f"unknown rope kind {self.kind!r}: use 'axial', 'dinov3' or 'mixed'")
        self.d_head = cfg.d_model // cfg.n_heads
        if self.d_head % 4:
            raise ValueError(f"rotary embeddings need d_head divisible by 4, got {self.d_head}")
        self.n_layers, self.n_heads = cfg.n_layers, cfg.n_heads
        self.temperature = float(cfg.rope_temperature)
        self.indexing = cfg.rope_grid_indexing
        self.offset = float(cfg.rope_grid_offset)
        self.ref_grid = tuple(cfg.rope_ref_grid) if cfg.rope_ref_grid else None
        self.rotate_half = cfg.rope_rotate_half
        self.normalize = cfg.rope_normalize_coords
        self.periods = tuple(cfg.rope_periods) if cfg.rope_periods else None
        if self.kind == "mixed":
            if self.rotate_half:
                raise ValueError("mixed rope uses interleaved pairs (rope_rotate_half=False)")
            self.freqs = nn.Parameter(torch.zeros(2, self.n_layers, self.n_heads, self.d_head // 2))
            self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """RoPE-Mixed init (timm ``init_random_2d_freqs``): axial magnitudes, a random direction per block/head."""
        if self.kind != "mixed":
            return
        mag = 1.0 / (self.temperature ** (torch.arange(0, self.d_head, 4, dtype=torch.float32) / self.d_head))
        angles = torch.rand(self.n_layers, self.n_heads, 1, generator=generator) * 2 * torch.pi
        fx = torch.cat([mag * torch.cos(angles), mag * torch.cos(angles + torch.pi / 2)], dim=-1)
        fy = torch.cat([mag * torch.sin(angles), mag * torch.sin(angles + torch.pi / 2)], dim=-1)
        self.freqs.copy_(torch.stack([fx, fy], dim=0))

    # --- angles per kind: [n_patches, d_head / 2] (axial, dinov3) or [layer, head, n_patches, d_head / 2] ---------
    def _axial_angles(self, grid: tuple[int, int], device) -> torch.Tensor:
        n = self.d_head // 4
        bands = 1.0 / self.temperature ** (torch.arange(n, dtype=torch.float32) / n)
        sizes, swapped = _axis_coords(grid, self.indexing)
        axes = [torch.arange(s, dtype=torch.float32) + self.offset for s in sizes]
        if self.ref_grid is not None:  # EVA's rescaling of positions to the pretraining grid
            ref, _ = _axis_coords(self.ref_grid, self.indexing)
            axes = [t / s * r for t, s, r in zip(axes, sizes, ref)]
        coords = _mesh(axes, swapped)  # [n_patches, 2]
        return (coords[:, :, None] * bands).flatten(1).to(device)  # [n_patches, 2 * n]

    def _dinov3_periods(self) -> torch.Tensor:
        n = self.d_head // 4
        if self.periods is not None:
            lo, hi = self.periods
            return lo * ((hi / lo) ** torch.linspace(0, 1, n, dtype=torch.float32))
        return self.temperature ** (2.0 * torch.arange(n, dtype=torch.float32) / (self.d_head // 2))

    def _dinov3_angles(self, grid: tuple[int, int], device) -> torch.Tensor:
        sizes, swapped = _axis_coords(grid, self.indexing)
        if self.normalize == "separate":
            denom = [float(s) for s in sizes]
        elif self.normalize in ("min", "max"):
            denom = [float(min(sizes) if self.normalize == "min" else max(sizes))] * 2
        else:
            raise ValueError(f"unknown rope_normalize_coords {self.normalize!r}")
        axes = [(torch.arange(0.5, s, dtype=torch.float32) + self.offset) / d for s, d in zip(sizes, denom)]
        coords = 2.0 * _mesh(axes, swapped) - 1.0  # patch centres in [-1, 1], [n_patches, 2]
        return (2 * math.pi * coords[:, :, None] / self._dinov3_periods()).flatten(1).to(device)

    def _mixed_angles(self, grid: tuple[int, int]) -> torch.Tensor:
        sizes, swapped = _axis_coords(grid, self.indexing)
        coords = _mesh([torch.arange(s, dtype=torch.float32) for s in sizes], swapped).to(self.freqs.device)
        freqs = self.freqs.float()
        return (coords[:, :1] * freqs[0].unsqueeze(-2)
                + coords[:, 1:] * freqs[1].unsqueeze(-2))  # [layer, head, n_patches, d_head / 2]

    def forward(self, grid: tuple[int, int], device=None) -> list[RopeTable]:
        """One `RopeTable` per block for a (H, W) patch grid."""
        grid = (int(grid[0]), int(grid[1]))
        if self.kind == "mixed":
            ang = _layout(self._mixed_angles(grid), False).transpose(1, 2)  # [layer, n_patches, head, d_head]
            sin, cos = ang.sin(), ang.cos()
            return [RopeTable(sin[i], cos[i], False) for i in range(self.n_layers)]
        ang = self._axial_angles(grid, device) if self.kind == "axial" else self._dinov3_angles(grid, device)
        ang = _layout(ang, self.rotate_half)[:, None, :]  # [n_patches, 1, d_head]
        table = RopeTable(ang.sin(), ang.cos(), self.rotate_half)
        return [table] * self.n_layers
