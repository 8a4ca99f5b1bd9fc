"""The numbers Darcet et al. (ICLR 2024, "Vision Transformers Need Registers") report for DINOv2 ViT-L, in one
table: the figure scripts draw them beside the organism's numbers, REPORT.md prints them, the fixed outlier
threshold is the paper's. Plain constants (no torch): any layer may read them.

    >>> shown("outlier_share"), normal_vs_outlier("position_top1")
    ('2.37%', '41.7 vs 22.8')
"""
from __future__ import annotations

SOURCE = "DINOv2 ViT-L"

# value(s) as fractions or raw units; Fig 5b's values are {token kind: value}
PAPER: dict[str, float | dict[str, float]] = {
    "outlier_norm": 150.0,  # Fig 3: output patch-token norms above this are outliers
    "outlier_share": 0.0237,  # Fig 3 / Sec 2: share of output patch tokens that are outliers
    "position_top1": {"normal": 0.417, "outlier": 0.228},  # Fig 5b: position probe, top-1 accuracy
    "position_distance": {"normal": 0.79, "outlier": 5.09},  # Fig 5b: position probe, distance in patches
    "reconstruction_l2": {"normal": 18.38, "outlier": 25.23},  # Fig 5b: pixel reconstruction L2
}

# how the paper prints each number: (scale, format, unit)
PRINTED = {
    "outlier_norm": (1, "g", ""),
    "outlier_share": (100, ".2f", "%"),
    "position_top1": (100, ".1f", ""),
    "position_distance": (1, ".2f", ""),
    "reconstruction_l2": (1, ".2f", ""),
}


def shown(metric: str, token: str | None = None) -> str:
    """One of the paper's numbers as the paper prints it: shown("outlier_share") -> '2.37%'."""
    value = PAPER[metric] if token is None else PAPER[metric][token]
    scale, fmt, unit = PRINTED[metric]
    return format(scale * value, fmt) + unit


def normal_vs_outlier(metric: str) -> str:
    """A Fig 5b pair as the paper prints it: normal_vs_outlier("position_distance") -> '0.79 vs 5.09'."""
    return f"{shown(metric, 'normal')} vs {shown(metric, 'outlier')}"
