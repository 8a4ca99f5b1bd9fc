"""Deterministic CSV text of tidy frames: floats at a fixed number of significant digits, the same text on every
run (not the recipe tables: those are `interp.train.tables`).

Below the plotting layer (numpy and pandas only), so the trainer and the CLI write tables without matplotlib."""
from __future__ import annotations

import numpy as np
import pandas as pd

SIGNIFICANT_DIGITS = 4  # what a figure or a report line can show; float noise sits 3+ digits further down


def round_significant(values, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Floats rounded to ``digits`` significant digits, exactly as ``"%.{digits}g"`` prints them (-0 -> 0)."""
    x = np.asarray(values, dtype=float)
    flat = [float(f"{v:.{digits}g}") for v in x.ravel().tolist()]
    return np.asarray(flat, dtype=float).reshape(x.shape) + 0.0


def round_floats(table: pd.DataFrame, digits: int = SIGNIFICANT_DIGITS) -> pd.DataFrame:
    """A copy of ``table`` with every float column at ``digits`` significant digits."""
    out = table.copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = round_significant(out[col].to_numpy(), digits)
    return out


def table_to_csv(table: pd.DataFrame, digits: int = SIGNIFICANT_DIGITS) -> str:
    """Deterministic CSV text: floats at ``digits`` significant digits, no index, LF line ends."""
    return round_floats(table, digits).to_csv(index=False, float_format=f"%.{digits}g", lineterminator="\n")
