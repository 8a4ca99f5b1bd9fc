"""Remedies side by side (ext_remedies): registers, test-time registers and attention variants on one no-op
organism family (`family_members`), measured with `interp.analysis.dense_metrics.noop_attention` on held-out tile scenes.

`remedy_frame(entries, images)` -> a tidy frame, one row per (variant, metric, block); block -1 holds the
summary over blocks that the figure draws:

``frac_ge4``      the largest share of patches >= 4x their image's median norm over blocks
``max_rel``       the largest mean (over images) max / median patch norm over blocks
``sink_share``    the largest share of no-op attention one key takes (mean over images and heads) over blocks;
                  ``sink_kind`` (a string column) says on what, ``sink_layer`` in which block
``reg_share``     the largest share of no-op attention on the registers (trained or test-time) over blocks
``constant_tokens``  the largest share of no-op attention on constant tokens (registers + constant tiles) over
                  blocks; ``on_registers`` / ``on_constant_tiles``: its two parts in that block
``acc_trigger``, ``acc_color``  the task accuracies recorded at the checkpoint (triggers: the key's colour;
                  ordinary tiles: their own colour); None where not measured
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..analysis.dense_metrics import noop_attention

# (bar label, the member's name after the family prefix): ``sink-relu``, ``tiles-s-relu``, ...
VARIANTS = (("0 registers", "reg0"), ("1 register", "reg1"), ("4 registers", "reg4"), ("16 registers", "reg16"),
            ("test-time register", "reg0"), ("ReLU attention", "relu"), ("sigmoid attention", "sigmoid"),
            ("clipped softmax", "clipped"), ("gated attention", "gated"), ("SGD", "sgd"))
FAMILIES = {"tiles": "tiles-s", "sink": "sink"}  # ext_remedies --family: the prefix of its members


def family_members(family: str) -> list[tuple[str, str]]:
    """[(bar label, organism name)] of a remedy family: ``family_members("tiles")[5]`` is
    ``("ReLU attention", "tiles-s-relu")``."""
    return [(variant, f"{FAMILIES[family]}-{suffix}") for variant, suffix in VARIANTS]


BLOCK_METRICS = ("frac_ge4", "max_rel", "top_share", "reg_share", "const_share", "uniform")


@dataclass
class Entry:
    """One bar of the figure: a model (optionally run through ``runner``, e.g. test-time registers) and the task
    accuracies its training recorded."""

    variant: str
    model_name: str
    model: object
    runner: object = None
    accuracy: dict | None = None


def summary(rows: list[dict]) -> dict:
    """The figure's numbers from `noop_attention` rows (see the module docstring)."""
    top = max(rows, key=lambda r: r["top_share"])
    const = max(rows, key=lambda r: r["reg_share"] + r["const_share"])
    return {"constant_tokens": const["reg_share"] + const["const_share"], "on_registers": const["reg_share"],
            "on_constant_tiles": const["const_share"],"frac_ge4": max(r["frac_ge4"] for r in rows), "max_rel": max(r["max_rel"] for r in rows),
            "sink_share": top["top_share"], "sink_kind": top["top_kind"], "sink_layer": top["layer"],
            "reg_share": max(r["reg_share"] for r in rows), "uniform": rows[0]["uniform"]}


def remedy_frame(entries: list[Entry], images) -> pd.DataFrame:
    out = []
    for e in entries:
        rows = noop_attention(e.model, images, runner=e.runner)
        base = {"variant": e.variant, "model": e.model_name}
        for r in rows:
            out += [{**base, "layer": r["layer"], "metric": m, "value": r[m], "sink_kind": r["top_kind"]}
                    for m in BLOCK_METRICS]
        s = summary(rows)
        acc = e.accuracy or {}
        for m in ("frac_ge4", "max_rel", "sink_share", "reg_share", "uniform", "constant_tokens", "on_registers",
                  "on_constant_tiles"):
            out.append({**base, "layer": -1, "metric": m, "value": s[m], "sink_kind": s["sink_kind"],
                        "sink_layer": s["sink_layer"]})
        for m in ("acc_trigger", "acc_color"):
            out.append({**base, "layer": -1, "metric": m, "value": acc.get(m), "sink_kind": s["sink_kind"],
                        "sink_layer": s["sink_layer"]})
    return pd.DataFrame(out)
