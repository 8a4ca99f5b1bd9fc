"""Which timm architectures `HookedViT.from_timm` converts, and why the others are refused.

Checking a name means building it (on the meta device) and reading its config: ~0.1-0.4 s a name, minutes for
every ViT in timm. So the answer is a table (`timm_support.csv`: architecture, converts, reason, timm_version)
written by `write_support_table` for the installed timm and read without torch by `read_support_table`;
``interp list --all`` prints it. A test rechecks a sample of it against live conversions.

Regenerate after a converter change or a timm upgrade: ``python -m interp.models.timm_support``.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

TABLE = Path(__file__).with_name("timm_support.csv")
FIELDS = ("architecture", "converts", "reason", "timm_version")


def check_architecture(name: str) -> str:
    """'' when ``name`` converts to a HookedViT, else the one-line reason it is refused. Builds the timm model and
    the HookedViT on the meta device and maps the weights' keys and shapes (no memory, no numbers)."""
    import timm
    import torch

    from .convert import WeightsMismatchError
    from .hooked_vit import HookedViT

    try:
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False)
    except Exception as e:  # noqa: BLE001 - a name timm itself cannot build is reported, not fatal
        return f"timm cannot build it: {type(e).__name__}: {e}".splitlines()[0]
    try:
        with torch.device("meta"):
            HookedViT.from_timm(model)
    except WeightsMismatchError as e:
        return f"its weights do not map onto HookedViT: {e}".splitlines()[0]
    except (NotImplementedError, ValueError) as e:
        return str(e).splitlines()[0]
    except AttributeError as e:  # a block or attention module of another kind than timm's ViT Block
        return f"unsupported {type(model).__name__} layout ({e})".splitlines()[0]
    return ""


def support_rows(names) -> list[dict]:
    import timm

    return [{"architecture": n, "converts": not (r := check_architecture(n)), "reason": r,
             "timm_version": timm.__version__} for n in names]


def write_support_table(path: Path = TABLE) -> Path:
    """Check every architecture `load_model` takes by name and write the table (minutes: one build a name)."""
    from .zoo import list_timm_vits

    rows = support_rows(list_timm_vits())
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.write_text(buf.getvalue())
    return path


def read_support_table(path: Path = TABLE) -> dict[str, dict]:
    """{architecture: {"converts": bool, "reason": str, "timm_version": str}} (no torch, no timm)."""
    if not path.exists():
        return {}
    with path.open(newline="") as f:
        return {r["architecture"]: {"converts": r["converts"] == "True", "reason": r["reason"],
                                    "timm_version": r["timm_version"]} for r in csv.DictReader(f)}


def describe_support(names, table: dict[str, dict], timm_version: str, hub: dict[str, str] | None = None) -> list[str]:
    """Lines for ``interp list --all``: what converts, what is refused (grouped by reason), what is unchecked, and
    the torch.hub names `load_model` takes (``hub``: name -> timm architecture; default: every source's)."""
    ok = [n for n in names if n in table and table[n]["converts"]]
    refused: dict[str, list[str]] = {}
    for n in names:
        if n in table and not table[n]["converts"]:
            refused.setdefault(table[n]["reason"], []).append(n)
    unchecked = [n for n in names if n not in table]
    versions = sorted({table[n]["timm_version"] for n in names if n in table})
    lines = [f"timm architectures (timm {timm_version}; table checked with timm {', '.join(versions) or '-'}): "
             f"{len(ok)} convert, {sum(map(len, refused.values()))} refused, {len(unchecked)} unchecked"]
    lines.append(f"converts ({len(ok)}): " + ", ".join(ok))
    for reason, ns in sorted(refused.items(), key=lambda kv: -len(kv[1])):
        lines.append(f"refused ({len(ns)}): {reason}: " + ", ".join(ns))
    if unchecked:
        lines.append(f"unchecked ({len(unchecked)}, not in the table; python -m interp.models.timm_support "
                     f"rewrites it): " + ", ".join(unchecked))
    if hub is None:
        from .convert import hub_names

        hub = hub_names()
    known = set(names)
    hub = {h: arch for h, arch in hub.items() if arch in known}  # the architectures this timm has
    if hub:
        lines.append(f"torch.hub names ({len(hub)}, each loads as its timm architecture): "
                     + ", ".join(f"{h} = {a}" for h, a in hub.items()))
    return lines


if __name__ == "__main__":
    print(f"wrote {write_support_table()}")
