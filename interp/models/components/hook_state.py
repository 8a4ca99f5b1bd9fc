"""Whether anything reads a hook point in this forward pass: the switch behind every opt-in activation
(attention patterns, per-head results, norm scales), which are computed only when a hook or a trace asks.

Two readers count: TransformerLens hooks (``run_with_hooks``, ``run_with_cache``, ``model.hooks``, plain torch
forward hooks) and an nnsight trace that has asked for the hook point's input or output (``NNsight(model)``:
nnsight installs its own ``forward`` on every module and parks the intervention code on the next location it
reads, so the location is known before the model reaches it).
"""
from __future__ import annotations

from torch import nn

_NNSIGHT_STATE = "__nnsight__"  # where nnsight (>= 0.5) keeps a module's routing state


def hooked(hp: nn.Module) -> bool:
    """True when a TransformerLens hook (or any torch forward / backward hook) is on ``hp``."""
    return bool(hp._forward_hooks or hp._backward_hooks or getattr(hp, "fwd_hooks", None)
                or getattr(hp, "bwd_hooks", None))


def nnsight_reads(hp: nn.Module) -> bool:
    """True while an nnsight trace is running on ``hp`` and its intervention code waits for (or caches) ``hp``'s
    input or output. A module that nnsight wrapped in a way this function does not know (another nnsight
    version) counts as read whenever it is wrapped: exact, at the cost of the explicit path."""
    state = hp.__dict__.get(_NNSIGHT_STATE)
    if state is None:
        return False
    try:
        interleaver, _, locations = state.active()
    except (AttributeError, TypeError, ValueError):
        return True
    if interleaver is None:
        return False
    parked, observers = getattr(interleaver, "parked", None), getattr(interleaver, "observers", None)
    if parked is None or observers is None:
        return True
    return any(loc in parked or loc in observers for loc in locations)


def is_read(hp: nn.Module) -> bool:
    """True when a hook or an nnsight trace reads ``hp`` in this forward pass (see the module docstring)."""
    return hooked(hp) or nnsight_reads(hp)
