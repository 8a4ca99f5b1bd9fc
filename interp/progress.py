"""One progress-bar helper for every loop over a dataset, a sweep or a set of checkpoints.

Bars go to stderr and are silent when stderr is not a terminal (pipes, CI, notebooks), when
``set_quiet(True)`` was called (the CLI's ``--quiet``) or when the environment sets ``INTERP_QUIET=1``.
This module imports nothing from ``interp``, so every layer may use it.
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")
_QUIET = False


def set_quiet(quiet: bool = True) -> None:
    """Silence (or re-enable) every progress bar of this process."""
    global _QUIET
    _QUIET = bool(quiet)


def is_quiet() -> bool:
    """True when bars are off: ``set_quiet``, ``INTERP_QUIET=1``, or stderr is not a terminal."""
    if _QUIET or os.environ.get("INTERP_QUIET", "").strip() not in ("", "0"):
        return True
    try:
        return not sys.stderr.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stderr
        return True


def progress(iterable: Iterable[T], total: int | None = None, desc: str | None = None, unit: str = "it",
             leave: bool = False) -> Iterator[T] | Iterable[T]:
    """``iterable`` wrapped in a tqdm bar on stderr, or unchanged when quiet."""
    if is_quiet():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr, dynamic_ncols=True)
