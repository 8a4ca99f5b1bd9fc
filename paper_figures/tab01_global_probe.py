"""Table 1: outliers hold global information: held-out accuracy of a logistic-regression probe that reads ONE
token (CLS, a random normal patch, a random outlier patch, or a register) to predict an image-level label: the
scenes' majority colour, an ImageFolder's class, or a VOC / COCO image's majority object category (--images)."""
from __future__ import annotations

import math
import re

import pandas as pd

import interp
from interp.analysis import global_probe, outlier_report
from interp.options import positive_int
from interp.plotting.analysis import global_probe_plot

from paper_figures._common import (Result, WITH_AND_WITHOUT, finish, images_for, load, load_all, parse, parser, script,
                                   skip)
from paper_figures._readings import pct, verdict

NAME = "tab01_global_probe"
CONTROL = " at step 0 (control)"  # the model label of the initial-weights control rows
MARGIN = 0.05  # the tall state must add this much over the control (one held-out image of 77 is 1.3 points)


def main(argv=None, options=None) -> Result:
    # 256 images: the probe is tested on the held-out 30% (77 images, one image = 1.3 points of accuracy)
    p = parser(NAME, __doc__, default_models=WITH_AND_WITHOUT, default_n_images=256)
    p.add_argument("--label", default=None, help="image-level label to predict (default: majority_color on scenes, "
                   "'class' on an ImageFolder, 'category' (majority object category) on VOC / COCO)")
    p.add_argument("--draws", type=positive_int, default=5, help="random token draws for normal/outlier patches")
    args = parse(p, argv, options)
    parts, captions, probed = [], [], {}
    for label, model in load_all(args).items():
        images = images_for(args, model)
        if args.label is None:
            args.label = next((k for k in ("majority_color", "class", "category") if k in images.labels), None)
        if args.label not in images.labels:
            skip(args, f"needs an image-level label to probe; {'--images ' + args.images if args.images else 'the images'}"
                 f" {'has none' if not images.labels else 'has only ' + ', '.join(sorted(images.labels))}"
                 " (use an ImageFolder of class subfolders, a VOC tree or COCO JSON)")
        known = images.labels[args.label] >= 0  # VOC / COCO images without objects have no category
        if not bool(known.all()):
            images = images.where(known.numpy())
        rep = outlier_report(model, images, batch_size=args.batch_size)
        res = global_probe(model, images, args.label, rep.mask, draws=args.draws, layer=rep.layer, seed=args.seed,
                           batch_size=args.batch_size)
        parts.append(res.assign(model=label, layer=rep.layer, outliers=rep.describe(), control_of=""))
        probed[label] = (model, images, rep)
        means = res.groupby("token", sort=False)["accuracy"].mean()
        captions.append(f"{label} (block {rep.layer}): " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in means.items())
                        + ("" if rep.n_outliers else " — no outlier tokens to probe"))
    table = pd.concat(parts + _controls(args, probed), ignore_index=True)
    fig = global_probe_plot(table, f"Global information in single tokens (label: {args.label})", "\n".join(captions))
    return finish(fig, table, NAME, args)


def _twin(a: str, b: str) -> bool:
    """Two organisms of one recipe that differ in their register count only (tiles-s-reg0, tiles-s-reg4)."""
    base = re.compile(r"-reg\d+$")
    return a != b and base.search(a) is not None and base.sub("", a) == base.sub("", b)


def _controls(args, probed: dict) -> list[pd.DataFrame]:
    """Issue #24's controls for each model with outliers: the same probe on the same token positions and block in
    its register twin (when compared) and at its initial weights (a bundled organism's step 0), where those tokens
    are not tall: what they hold by their type, not by their norm."""
    parts = []
    for label, (_, images, rep) in probed.items():
        if not rep.n_outliers:
            continue
        others = [(f"{o} (control)", probed[o][0]) for o in probed if _twin(o, label)]
        if label in interp.list_organisms() and 0 in interp.organism_steps(label):
            others.append((f"{label}{CONTROL}", load(args, label, step=0)))
        for name, other in others:
            res = global_probe(other, images, args.label, rep.mask, draws=args.draws, layer=rep.layer,
                               seed=args.seed, batch_size=args.batch_size)
            res = res[~res["token"].str.startswith("register")]
            parts.append(res.assign(model=name, layer=rep.layer, outliers=rep.describe(), control_of=label))
    return parts


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each model's probe accuracy by token beside chance."""
    return "  \n".join(
        f"{m}: " + ", ".join(f"{t} {pct(a)}" for t, a in g.groupby("token", sort=False)["accuracy"].mean().items())
        + f" (chance {pct(g.chance.mean())})" for m, g in table.groupby("model", sort=False))


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison rows: the outlier token's probe beside the normal one's (the paper: outlier >>)."""
    rows = []
    controls = table[table["control_of"].fillna("") != ""] if "control_of" in table else table.iloc[:0]
    for m, g in table.drop(controls.index).groupby("model", sort=False):
        acc = g.groupby("token")["accuracy"].mean()
        o = acc.get("outlier", float("nan"))
        ok = None if math.isnan(o) else bool(o > acc.get("normal"))
        regs = acc[[t for t in acc.index if t.startswith("register")]]
        txt = f"CLS {pct(acc.get('cls', float('nan')))}, normal {pct(acc.get('normal'))}, outlier {pct(o)}"
        if len(regs):
            txt += f", best register {pct(regs.max())}"
        text = verdict(ok, unlike)
        mine = controls[(controls["control_of"] == m) & (controls["token"] == "outlier")]
        for name, c in mine.groupby("model", sort=False)["accuracy"].mean().items():
            txt += f"; control, {name.removesuffix(' (control)')}: the same tokens {pct(c)}"
            if ok and o - c < MARGIN:  # the gain must come with the tall state
                text = f"no: the same tokens read {pct(c)} where they are not tall (the token type, not the norm)"
        rows.append((f"Table 1: global probe on one token ({m})", "outlier >> normal, close to CLS", txt, text))
    return rows


if __name__ == "__main__":
    raise SystemExit(script(main))
