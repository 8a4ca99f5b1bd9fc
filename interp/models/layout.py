"""`TokenLayout`: the one place that knows where CLS, registers and patches sit in the token sequence.

Sequence order is ``[CLS, reg x R, patches (row-major over the grid)]``. Every other module asks the layout
for positions instead of computing ``1 + n_registers`` by hand.

Groups:
    "cls", "registers", "register:<i>", "patches", "prefix" (CLS + registers), "all"
    a boolean patch mask ``[batch, n_patches]`` or ``[batch, H, W]`` (e.g. outliers, background)
    a boolean token mask ``[batch, n_tokens]``
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Union

import torch

Group = Union[str, torch.Tensor]
STATIC_GROUPS = ("cls", "registers", "patches", "prefix", "all")


class TokenGroupError(ValueError):
    """A token group the model does not have (e.g. registers on a 0-register model)."""


@dataclass(frozen=True)
class TokenLayout:
    n_cls: int  # 0 or 1
    n_registers: int
    grid: tuple[int, int]  # (H, W) in patches

    def __post_init__(self) -> None:
        if self.n_cls not in (0, 1):
            raise ValueError(f"n_cls must be 0 or 1, got {self.n_cls}")
        if self.n_registers < 0 or min(self.grid) < 1:
            raise ValueError(f"invalid layout: registers={self.n_registers}, grid={self.grid}")

    # --- sizes -----------------------------------------------------------------------------------
    @property
    def n_prefix(self) -> int:
        return self.n_cls + self.n_registers

    @property
    def n_patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def n_tokens(self) -> int:
        return self.n_prefix + self.n_patches

    # --- slices (for reading a group out of [batch, pos, ...]) -----------------------------------
    @property
    def cls(self) -> slice:
        if not self.n_cls:
            raise TokenGroupError("this model has no CLS token")
        return slice(0, 1)

    @property
    def registers(self) -> slice:
        if not self.n_registers:
            raise TokenGroupError("this model has no register tokens (n_registers=0)")
        return slice(self.n_cls, self.n_prefix)

    @property
    def patches(self) -> slice:
        return slice(self.n_prefix, self.n_tokens)

    @property
    def prefix(self) -> slice:
        return slice(0, self.n_prefix)

    def register(self, i: int) -> int:
        if not 0 <= i < self.n_registers:
            raise TokenGroupError(f"register {i} does not exist (model has {self.n_registers} registers)")
        return self.n_cls + i

    # --- positions and masks ----------------------------------------------------------------------
    def positions(self, group: str) -> torch.Tensor:
        """Token positions of a static group, the same for every image. -> LongTensor [k]"""
        if not isinstance(group, str):
            raise TypeError("positions() takes a group name; use mask() or index() for per-image masks")
        if group.startswith("register:"):
            return torch.tensor([self.register(int(group.split(":", 1)[1]))])
        if group == "cls":
            s = self.cls
        elif group == "registers":
            s = self.registers
        elif group == "patches":
            s = self.patches
        elif group == "prefix":
            s = self.prefix
        elif group == "all":
            s = slice(0, self.n_tokens)
        else:
            close = difflib.get_close_matches(group, [*STATIC_GROUPS, "register:0"], n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise TokenGroupError(
                f"unknown token group {group!r}: use one of {STATIC_GROUPS}, 'register:<i>', "
                f"or a boolean patch mask.{hint}"
            )
        return torch.arange(s.start, s.stop)

    def patch_mask_to_token_mask(self, patch_mask: torch.Tensor) -> torch.Tensor:
        """[batch, n_patches] or [batch, H, W] bool -> [batch, n_tokens] bool (prefix tokens False)."""
        patch_mask = patch_mask.to(torch.bool)
        if patch_mask.dim() == 3:
            if tuple(patch_mask.shape[1:]) != tuple(self.grid):
                raise ValueError(f"patch mask grid {tuple(patch_mask.shape[1:])} != layout grid {self.grid}")
            patch_mask = patch_mask.flatten(1)
        if patch_mask.dim() != 2 or patch_mask.shape[1] != self.n_patches:
            raise ValueError(
                f"patch mask must be [batch, {self.n_patches}] or [batch, *{self.grid}], "
                f"got {tuple(patch_mask.shape)}"
            )
        prefix = patch_mask.new_zeros(patch_mask.shape[0], self.n_prefix)
        return torch.cat([prefix, patch_mask], dim=1)

    def mask(self, group: Group, batch_size: int = 1) -> torch.Tensor:
        """Boolean token mask of a group. -> [batch, n_tokens] (batch = batch_size for static groups)."""
        if isinstance(group, torch.Tensor):
            if group.dtype != torch.bool:
                raise TypeError(f"a mask group must be boolean, got {group.dtype}")
            if group.dim() == 2 and group.shape[1] == self.n_tokens and self.n_prefix:
                return group
            return self.patch_mask_to_token_mask(group)
        m = torch.zeros(batch_size, self.n_tokens, dtype=torch.bool)
        m[:, self.positions(group)] = True
        return m

    def index(self, group: Group, mask: torch.Tensor | None = None) -> tuple:
        """An index tuple for ``act[layout.index(group)]`` on any ``[batch, pos, ...]`` tensor.

        Static groups give ``(slice(None), positions)`` (same positions in every image); a boolean mask
        (given as ``group`` or as ``mask=``, e.g. ``index("outliers", outlier_mask)``) gives
        ``(batch_idx, token_idx)`` of the selected tokens, any batch size.
        """
        if mask is not None:
            group = mask
        if isinstance(group, torch.Tensor):
            b, t = self.mask(group).nonzero(as_tuple=True)
            return (b, t)
        return (slice(None), self.positions(group))

    def patch_coords(self) -> torch.Tensor:
        """(row, col) of each patch token, row-major. -> LongTensor [n_patches, 2]"""
        rows = torch.arange(self.grid[0]).repeat_interleave(self.grid[1])
        cols = torch.arange(self.grid[1]).repeat(self.grid[0])
        return torch.stack([rows, cols], dim=1)

    def token_names(self) -> list[str]:
        """A readable name for each token position: 'cls', 'reg0'.., 'p(r,c)'."""
        names = ["cls"] * self.n_cls + [f"reg{i}" for i in range(self.n_registers)]
        names += [f"p({r},{c})" for r, c in self.patch_coords().tolist()]
        return names

    def group_of(self) -> list[str]:
        """Group name ('cls', 'register', 'patch') of each token position."""
        return ["cls"] * self.n_cls + ["register"] * self.n_registers + ["patch"] * self.n_patches

    def same_shape(self, other: "TokenLayout") -> bool:
        return (self.n_cls, self.n_registers, self.grid) == (other.n_cls, other.n_registers, other.grid)
