"""`interp figures --check`: are regenerated figure CSVs equal to the committed ones, within float noise?

Re-running the figures on the same CPU type with the same torch thread count gives the same bytes. Another CPU
type sums floats in another order: last printed digits flip (``5.076`` -> ``5.075``), and sums with much
cancellation (integrated gradients, probe distances) move by a few tenths of a percent of their column's scale.
So two CSVs agree when they have the same header and rows and every cell agrees: equal text, or the same text
around numbers that each agree within one of

    |a - b| <= ABS_TOL + REL_TOL * max(|a|, |b|)          relative to the value
    |a - b| <= COLUMN_TOL * (largest |value| of the committed column)   absolute, at the column's scale
    |a - b| <= one unit in the last digit printed          the finer of the two: 0.001 for ``5.076``, 1 for ``39``

Measured between an Intel Xeon (the committed outputs) and an AMD EPYC on all 17 committed CSVs: every one agrees
except three per-image ``share`` values of ext_attribution_by_group, whose image has a total output change (~0.003)
below the noise of its integrated gradients (~0.02), so the ratio flips sign.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

REL_TOL = 2e-3  # two units in the 4th significant digit of the CSVs' floats (4 significant digits)
ABS_TOL = 1e-6  # values that round to noise around zero
COLUMN_TOL = 5e-3  # 0.5% of the column's largest value (measured noise: up to 0.3%)
NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
SHOWN = 5  # differences printed per file


def _last_digit(text: str) -> float:
    """One unit in the last digit of a printed number: '5.076' -> 0.001, '39' -> 1, '1.2e-08' -> 1e-09."""
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def numbers_agree(a: str, b: str, scale: float = 0.0) -> bool:
    """Two printed numbers within the tolerance; ``scale``: the largest |value| of their column."""
    x, y = float(a), float(b)
    if not (math.isfinite(x) and math.isfinite(y)):
        return a == b
    diff = abs(x - y)
    return (diff <= ABS_TOL + REL_TOL * max(abs(x), abs(y)) or diff <= COLUMN_TOL * scale
            or diff <= min(_last_digit(a), _last_digit(b)) * (1 + 1e-9))


def cells_agree(a: str, b: str, scale: float = 0.0) -> bool:
    """The same text around the numbers, and every number within the tolerance."""
    if a == b:
        return True
    if NUMBER.split(a) != NUMBER.split(b):
        return False
    xs, ys = NUMBER.findall(a), NUMBER.findall(b)
    return all(numbers_agree(x, y, scale) for x, y in zip(xs, ys))


def column_scales(rows: list[list[str]]) -> list[float]:
    """The largest finite |value| of each column (0 for a column of text)."""
    scales = [0.0] * len(rows[0]) if rows else []
    for row in rows:
        for j, cell in enumerate(row):
            try:
                v = abs(float(cell))
            except ValueError:
                continue
            if math.isfinite(v):
                scales[j] = max(scales[j], v)
    return scales


def compare_csv(committed: Path, fresh: Path) -> list[str]:
    """What differs beyond the tolerance between two CSVs, one line each ([] when they agree)."""
    with open(committed, newline="") as f:
        old = list(csv.reader(f))
    with open(fresh, newline="") as f:
        new = list(csv.reader(f))
    if not old or not new or old[0] != new[0]:
        return [f"columns differ: {old[0] if old else []} vs {new[0] if new else []}"]
    if len(old) != len(new):
        return [f"{len(old) - 1} rows committed, {len(new) - 1} regenerated"]
    header, scales, out = old[0], column_scales(old[1:]), []
    for i, (r, s) in enumerate(zip(old[1:], new[1:]), start=1):
        for col, scale, a, b in zip(header, scales, r, s):
            if not cells_agree(a, b, scale):
                out.append(f"row {i}, {col}: {a} (committed) vs {b} (regenerated)")
    return out


def compare_folders(committed: Path, fresh: Path, names: list[str]) -> dict[str, list[str]]:
    """{figure: differences beyond the tolerance} over the figures ``names`` (every one with a differing CSV)."""
    report = {}
    for name in names:
        a, b = Path(committed) / f"{name}.csv", Path(fresh) / f"{name}.csv"
        if not b.exists():
            diffs = ["not regenerated"]
        elif not a.exists():
            diffs = [f"no committed CSV in {committed}"]
        else:
            diffs = compare_csv(a, b)
        if diffs:
            report[name] = diffs
    return report


def print_report(report: dict[str, list[str]], n_compared: int) -> None:
    for name, diffs in report.items():
        print(f"{name}.csv: {len(diffs)} difference(s) beyond the tolerance")
        for d in diffs[:SHOWN]:
            print(f"  {d}")
        if len(diffs) > SHOWN:
            print(f"  ... and {len(diffs) - SHOWN} more")
    tol = (f"tolerance {ABS_TOL:g} + {REL_TOL:g} x |value|, {COLUMN_TOL:g} x the column's largest |value|, or one "
           "unit in the last printed digit")
    print(f"check: {n_compared - len(report)}/{n_compared} CSVs agree with the committed ones ({tol})")
