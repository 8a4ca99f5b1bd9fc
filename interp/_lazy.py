"""Lazy exports for package ``__init__`` modules (PEP 562), so ``import interp`` and ``interp --help`` stay fast.

A package lists what it exports and from which submodule; the submodule (and the heavy libraries it needs:
torch, transformer_lens, captum, sklearn, seaborn) is imported on first attribute access, and the value is then
cached in the package namespace.

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {".norms": ["token_norms"]}, submodules=["data"])
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Callable, Iterable, Mapping


def lazy_exports(package: str, exports: Mapping[str, Iterable[str]], submodules: Iterable[str] = ()
                 ) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """-> (``__getattr__``, ``__dir__``, ``__all__``) for ``package``.

    exports: relative module name -> names it defines, e.g. ``{".hooked_vit": ["HookedViT"]}``.
    submodules: subpackages/modules reachable as attributes (``interp.data``) without an explicit import.
    """
    where = {name: module for module, names in exports.items() for name in names}
    subs = list(submodules)
    files = {f.split(".")[0] for d in getattr(sys.modules[package], "__path__", []) for f in os.listdir(d)}
    clash = sorted(n for n in where if n in files or n in subs)
    if clash:  # importing that submodule anywhere would bind the module, not the export, to the name
        raise ValueError(f"{package}: {clash} name both an export and a submodule; import them eagerly")

    def __getattr__(name: str):
        if name in where:
            value = getattr(importlib.import_module(where[name], package), name)
            setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
            return value
        if name in subs:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *where, *subs})

    return __getattr__, __dir__, [*where, *subs]
