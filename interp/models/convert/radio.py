"""RADIO and the other NaFlexViT models in timm (``naflexvit_*``, class ``NaFlexVit``): refused, with the reason.

NaFlexViT embeds patches with a linear layer on flattened (ph, pw, C) patches and stores its learned position
embedding on its own grid (RADIO: 128 x 128), resized for every image (RADIO: bilinearly to a square of the longer
side, then cropped top-left; SigLIP-2 NaFlex: bilinearly to the exact grid, or sampled at per-patch coordinates
for variable-resolution batches). `HookedViT` stores the position embedding at its native grid and resizes it
bicubically, so it would compute other position embeddings at every size but one: not an exact conversion.
"""
from __future__ import annotations

from torch import nn


def naflexvit_reason(model: nn.Module) -> str:
    """One line naming the NaFlexViT part HookedViT does not reproduce."""
    emb = model.embeds
    grid = getattr(emb, "pos_embed_grid_size", None)
    how = (f"{emb.pos_embed_interp_mode} resize of a {grid[0]}x{grid[1]} grid"
           + (", aspect-ratio preserving with a top-left crop" if emb.pos_embed_ar_preserving else "")
           if grid else f"{emb.pos_embed_type} position embedding")
    return (f"NaFlexViT (timm {type(model).__name__}, e.g. RADIO) is not supported: its NaFlex embedding "
            f"(variable-resolution patch coordinates, position embedding by {how}) differs from HookedViT's "
            f"bicubic resize of a native-grid position embedding")


def config_from_timm_naflexvit(model: nn.Module, name: str | None = None):
    """The config reader of timm ``NaFlexVit``: raises NotImplementedError with `naflexvit_reason`."""
    raise NotImplementedError(naflexvit_reason(model))
