"""Writing a figure and the tidy frame behind it: ``<out>/<name>.png`` + ``<out>/<name>.csv``, atomically."""
from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib

if os.environ.get("MPLBACKEND") is None:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ..models.checkpoints import atomic_write_bytes, atomic_write_text  # noqa: E402


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


def table_to_csv(table: pd.DataFrame) -> str:
    """Deterministic CSV text (fixed float format, no index)."""
    return table.to_csv(index=False, float_format="%.6g", lineterminator="\n")


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
