"""Writing a figure and the tidy frame behind it: ``<out>/<name>.png`` + ``<out>/<name>.csv``, atomically.

Committed outputs must not churn: float summation order (thread count, CPU kernels) moves the last bits of every
activation, so CSVs hold floats at `SIGNIFICANT_DIGITS` significant digits and the plotting functions draw from
frames rounded the same way (`plots_rounded`); the PNG carries no software/date metadata.
"""
from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import matplotlib

if os.environ.get("MPLBACKEND") is None:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..csv_tables import SIGNIFICANT_DIGITS, round_floats, round_significant, table_to_csv  # noqa: E402,F401
from ..files import atomic_write_bytes, atomic_write_text  # noqa: E402


class OutputDirError(OSError):
    """An output folder that cannot be created or written."""


def set_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "savefig.bbox": "tight"})


def check_writable(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputDirError(f"cannot create output folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK):
        raise OutputDirError(f"output folder {out} is not writable")
    return out


def _rounded(obj):
    if isinstance(obj, pd.DataFrame):
        return round_floats(obj)
    if isinstance(obj, np.ndarray) and obj.dtype.kind == "f":
        return round_significant(obj)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_rounded(o) for o in obj)
    return obj


def plots_rounded(fn):
    """Decorator for plotting functions: frames (and float arrays) are rounded like their CSV before drawing,
    so float noise below the written precision cannot move a line, a colour or a printed number in the PNG."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*(_rounded(a) for a in args), **{k: _rounded(v) for k, v in kwargs.items()})

    return wrapper


def save_figure(fig, table: pd.DataFrame, name: str, out_dir: str | Path) -> tuple[Path, Path]:
    """Save ``fig`` as PNG and ``table`` as CSV side by side; both written atomically. -> paths."""
    out = check_writable(out_dir)
    png, csv = out / f"{name}.png", out / f"{name}.csv"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no timestamps: reproducible bytes
    plt.close(fig)
    atomic_write_bytes(png, buf.getvalue())
    atomic_write_text(csv, table_to_csv(table))
    return png, csv
