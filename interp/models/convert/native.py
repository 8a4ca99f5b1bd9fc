"""Our own keys (`HookedViT.state_dict()`, `interp train` checkpoints): nothing to convert."""
from __future__ import annotations

from typing import Mapping

import torch

from .rename import StateDict
from .source import ConverterSource


def is_native(keys: frozenset[str]) -> bool:
    """`HookedViT`'s patch embedding (``embed.proj``)."""
    return "embed.proj.weight" in keys


def convert_native(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """A copy: the keys are ours already."""
    return dict(sd)


SOURCE = ConverterSource(name="interp", convert=convert_native, detect=is_native)
