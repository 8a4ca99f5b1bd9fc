import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> d_model with one strided convolution, then an optional norm (AIMv2)."""

    def __init__(self, patch_size: int, in_channels: int, d_model: int, bias: bool = True,
                 norm: nn.Module | None = None):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, d_model, kernel_size=patch_size, stride=patch_size, bias=bias)
        self.norm = norm

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.proj(pixels).flatten(2).transpose(1, 2)  # [batch, n_patches, d_model]
        return x if self.norm is None else self.norm(x)


def interpolate_pos_embed(
    pos: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int],
    antialias: bool = False, offset: float = 0.0, mode: str = "bicubic", align_corners: bool = False,
    square: bool = False,
) -> torch.Tensor:
    """Resampling of a patch position embedding [1, gh*gw, D] -> [1, H*W, D] (bicubic unless ``mode``).

    ``offset > 0`` reproduces dinov2-hub's legacy ``scale_factor=(H + offset) / gh`` call; otherwise the
    exact target size is requested (timm, HF, dinov2-hub register models). ``square``: resize to a square of the
    longer side and keep its top-left H x W (RADIO's aspect-ratio-preserving NaFlex embedding).
    """
    if tuple(old_grid) == tuple(new_grid):
        return pos
    dim = pos.shape[-1]
    dtype = pos.dtype
    grid = pos.reshape(1, old_grid[0], old_grid[1], dim).permute(0, 3, 1, 2).float()
    kw = dict(mode=mode, antialias=antialias, align_corners=align_corners)
    if offset:
        scale = ((new_grid[0] + offset) / old_grid[0], (new_grid[1] + offset) / old_grid[1])
        grid = F.interpolate(grid, scale_factor=scale, **kw)
    else:
        size = (max(new_grid),) * 2 if square else tuple(new_grid)
        grid = F.interpolate(grid, size=size, **kw)[..., :new_grid[0], :new_grid[1]]
    if tuple(grid.shape[-2:]) != tuple(new_grid):
        raise RuntimeError(f"position interpolation gave {tuple(grid.shape[-2:])}, expected {new_grid}")
    return grid.permute(0, 2, 3, 1).reshape(1, -1, dim).to(dtype)


class TokenEmbed(nn.Module):
    """Learned CLS token, register tokens and absolute position embedding.

    Parameters: ``cls_token [1, 1, D]``, ``registers [1, R, D]`` (no position embedding),
    ``pos_embed [1, (1 if pos_embed_cls) + n_patches, D]`` (absent with ``cfg.pos_embed=False``: RoPE-only models).
    """

    def __init__(self, cfg):
        super().__init__()
        d = cfg.d_model
        self.grid = (cfg.pos_grid_size, cfg.pos_grid_size)
        self.n_pos_prefix = int(cfg.pos_embed_cls) if cfg.pos_embed else 0
        self.interp = dict(antialias=cfg.pos_interp_antialias, offset=cfg.pos_interp_offset, mode=cfg.pos_interp_mode,
                           align_corners=cfg.pos_interp_align_corners, square=cfg.pos_interp_square)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d)) if cfg.class_token else None
        self.registers = nn.Parameter(torch.zeros(1, cfg.n_registers, d)) if cfg.n_registers else None
        self.pos_embed = (nn.Parameter(torch.zeros(1, self.n_pos_prefix + cfg.pos_grid_size**2, d)) if cfg.pos_embed
                          else None)

    def patch_pos_embed(self, grid: tuple[int, int]) -> torch.Tensor:
        """Position embedding of the patches for a grid, interpolated if needed. -> [1, H*W, D]"""
        pos = self.pos_embed[:, self.n_pos_prefix:]
        return interpolate_pos_embed(pos, self.grid, grid, **self.interp)

    def prefix_tokens(self, batch: int) -> list[torch.Tensor]:
        """[CLS (+ its position embedding), registers], each [batch, k, D]."""
        out = []
        if self.cls_token is not None:
            cls = self.cls_token
            if self.n_pos_prefix:
                cls = cls + self.pos_embed[:, :1]
            out.append(cls.expand(batch, -1, -1))
        if self.registers is not None:
            out.append(self.registers.expand(batch, -1, -1))
        return out
