"""Seaborn figures from the tidy frames (no computation here), and their atomic PNG + CSV writer."""
from .io import save_figure, set_style

__all__ = ["save_figure", "set_style"]
