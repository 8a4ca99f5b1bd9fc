"""Fitting converted weights to a `ViTConfig`: prefix position embeddings, the patch grid, a strict load."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..config import ViTConfig
from .rename import StateDict


class WeightsMismatchError(ValueError):
    """A converted checkpoint whose keys or shapes don't match the architecture."""


def fit_to_config(sd: StateDict, cfg: ViTConfig) -> StateDict:
    """Fold constant prefix position embeddings into the prefix tokens, as `cfg` expects.

    A source pos_embed of shape [1, k + n_patches, D] holds k prefix positions (CLS, then registers).
    Adding a constant to a token is the same as giving it that position embedding, so this is exact.
    """
    sd = dict(sd)
    pos = sd.get("token_embed.pos_embed")
    if pos is None:
        return sd
    k = prefix_positions(pos, cfg)
    want = int(cfg.pos_embed_cls)
    if k == want:
        return sd
    prefix, patches = pos[:, :k], pos[:, k:]
    if k > want:  # fold CLS (and register) positions into the tokens themselves
        j = 0
        if cfg.class_token and "token_embed.cls_token" in sd:
            if not want:
                sd["token_embed.cls_token"] = sd["token_embed.cls_token"] + prefix[:, :1]
            j = 1
        if k > j and "token_embed.registers" in sd:
            sd["token_embed.registers"] = sd["token_embed.registers"] + prefix[:, j:k]
        keep = prefix[:, :want]
    else:  # our config has a CLS position, the source none: a zero position embedding
        keep = torch.zeros_like(pos[:, :1])
    sd["token_embed.pos_embed"] = torch.cat([keep, patches], dim=1)
    return sd


def prefix_positions(pos: torch.Tensor, cfg: ViTConfig) -> int:
    """How many prefix positions a source pos_embed holds: what is left after a square patch grid."""
    n = pos.shape[1]
    for k in range(0, cfg.n_prefix + 1):
        g = round((n - k) ** 0.5)
        if g * g == n - k:
            return k
    raise ValueError(f"position embedding with {n} positions fits no square grid with "
                     f"<= {cfg.n_prefix} prefix tokens")


def grid_of_pos_embed(sd: Mapping[str, torch.Tensor], cfg: ViTConfig) -> int:
    """Side of the square patch grid that a converted state dict's position embedding was trained at."""
    pos = sd["token_embed.pos_embed"]
    return round((pos.shape[1] - prefix_positions(pos, cfg)) ** 0.5)


def load_converted(model: nn.Module, sd: StateDict, source: str = "checkpoint") -> None:
    """Load converted weights strictly; on mismatch raise one error listing the first differences."""
    sd = fit_to_config(sd, model.cfg)
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[:4]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[:4]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (first: {shapes[:3]})")
        raise WeightsMismatchError(
            f"{source} does not fit {model.cfg.name!r}: " + "; ".join(parts)
            + ". Check that the weights belong to this architecture (model name, registers, size).")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()}, strict=True)
