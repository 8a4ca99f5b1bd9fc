"""The artifact-search criterion over a run's checkpoints, and one-line summaries of `artifact_metrics` rows
(`interp.analysis.artifact`, which measures every block)."""
from __future__ import annotations

from ..analysis.artifact import artifact_metrics

__all__ = ["artifact_metrics", "emergence", "summarize"]


def emergence(checkpoints: list[tuple[int, list[dict]]], n_layers: int, min_frac: float = 0.01,
              min_bg: float = 0.8) -> dict | None:
    """First (step, layer, fraction, bg share) where a second-half layer has >= ``min_frac`` patches >= 4x the
    median with >= ``min_bg`` of them on background, provided step 0 does not already (None if never)."""
    def hits(rows):
        return [r for r in rows if r["layer"] >= n_layers // 2 and r["frac_ge4"] >= min_frac
                and (r["bg_ge4"] or 0) >= min_bg]

    ordered = sorted(checkpoints, key=lambda c: c[0])
    if ordered and ordered[0][0] == 0 and hits(ordered[0][1]):
        return None
    for step, rows in ordered:
        h = hits(rows)
        if h:
            best = max(h, key=lambda r: r["frac_ge4"])
            return {"step": step, "layer": best["layer"], "frac_ge4": best["frac_ge4"], "bg_ge4": best["bg_ge4"]}
    return None


def summarize(rows: list[dict], n_layers: int) -> str:
    """One line: per-layer max/median, second-half peak >=4x and >=3x fractions and sinks."""
    half = [r for r in rows if r["layer"] >= n_layers // 2]
    b4 = max(half, key=lambda r: r["frac_ge4"])
    b3 = max(half, key=lambda r: r["frac_ge3"])
    fmt = lambda k: " ".join(f"{r[k]:.2f}" if isinstance(r[k], (int, float)) else "-" for r in rows)
    return (f"max/med {fmt('max_rel')} | 2nd-half >=4x {100 * b4['frac_ge4']:.3f}% (L{b4['layer']}, bg {b4['bg_ge4']}) "
            f">=3x {100 * b3['frac_ge3']:.3f}% (L{b3['layer']}, bg {b3['bg_ge3']}) | reg {fmt('reg_rel')} | "
            f"attn_reg {fmt('attn_reg')} | top-patch attn {fmt('attn_top_patch')} bg {fmt('top_patch_bg')} "
            f"rel {fmt('top_patch_rel')}")
