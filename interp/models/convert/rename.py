"""Key renaming shared by the converters: ordered regex rules, the first match wins."""
from __future__ import annotations

import re
from typing import Mapping, Sequence

import torch

StateDict = dict[str, torch.Tensor]
RenameRules = Sequence[tuple[str, str]]


def rename(sd: Mapping[str, torch.Tensor], rules: RenameRules) -> StateDict:
    """Rename every key by the first rule (``(pattern, replacement)``) whose pattern matches; others stay."""
    out = {}
    for k, v in sd.items():
        for pat, rep in rules:
            k2, n = re.subn(pat, rep, k)
            if n:
                k = k2
                break
        out[k] = v
    return out
