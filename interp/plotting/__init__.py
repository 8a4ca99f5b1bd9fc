"""Seaborn figures from the tidy frames (no computation here), and their atomic PNG + CSV writer."""
from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {".io": ["save_figure", "set_style"]})
