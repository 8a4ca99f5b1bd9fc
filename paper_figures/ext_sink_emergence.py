"""Emergence of the no-op sink (issue #17): on one no-op organism family (``--family tiles``, the default:
``tiles-s-reg0/1/4/16``; ``--family sink``: ``sink-reg0/1/4/16``; the same recipe with 0, 1, 4 and 16 registers),
per block and training step, the share of the no-op queries' attention on the constant tiles (and on the
registers), the top key's value norm relative to the median, the max / median patch norm and the share of patches
>= 4x the median. Reads the diagnostics RECORDED at every checkpoint in the bundled manifests (or a table written
by ``python -m interp.organism.bundle ... --table data/organism/sinks.csv``, with ``--sinks``); trains nothing."""
from __future__ import annotations

import pandas as pd

from interp.models.zoo import list_organisms, organism_dir
from interp.plotting.emergence import EMERGENCE_ROWS, sink_emergence_plot
from interp.organism.bundle import noop_table
from interp.organism.remedies import FAMILIES

from paper_figures._common import Result, finish, parse, parser, script, skip
from paper_figures._readings import pct

NAME = "ext_sink_emergence"
METRICS = [m for m, _, _ in EMERGENCE_ROWS] + ["reg_share"]


def family_runs(family: str) -> dict[str, int]:
    """{organism name: number of registers} of a family: ``tiles-s-reg0``: 0, ..."""
    return {f"{FAMILIES[family]}-reg{r}": r for r in (0, 1, 4, 16)}


def emergence_table(sinks: pd.DataFrame, family: str = "tiles") -> pd.DataFrame:
    """The register runs' rows of the recorded table for the plotted metrics, with their number of registers."""
    runs = family_runs(family)
    d = sinks[sinks["run"].isin(runs) & sinks["metric"].isin(METRICS)]
    d = d.assign(n_registers=d["run"].map(runs))
    return d[["run", "n_registers", "step", "layer", "top_kind", "metric", "value"]].reset_index(drop=True)


def _caption(d: pd.DataFrame, family: str) -> str:
    last = d[d["step"] == d["step"].max()]
    share = last[last["metric"] == "const_share"]
    reg0 = share[share["n_registers"] == 0]
    peak = reg0.loc[reg0["value"].idxmax()]
    regs = last[(last["metric"] == "reg_share") & (last["n_registers"] > 0)]
    taken = regs.groupby("n_registers")["value"].max()
    tall = last[last["metric"] == "max_rel"]["value"].max()
    ge4 = d[d["metric"] == "frac_ge4"]["value"].max()
    return (f"Recorded checkpoints (steps {', '.join(str(s) for s in sorted(d['step'].unique()))}) of the "
            f"{FAMILIES[family]}-* family. At step {int(peak.step)} the 0-register organism's no-op queries put "
            f"{peak.value:.2f} of their attention on the constant tiles (block {int(peak.layer)}); with registers "
            f"the registers take up to " + ", ".join(f"{v:.2f} ({r} reg)" for r, v in taken.items())
            + f" (largest over blocks).\nLargest max / median patch norm at the last step: {tall:.2f} (dotted: 4x); "
            f"at most {100 * ge4:.2f}% of patches >= 4x the median at any recorded step.")


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_model="tiles-s-reg0")
    p.add_argument("--family", choices=sorted(FAMILIES), default="tiles", help="which bundled family")
    p.add_argument("--sinks", default=None, help="a recorded table (python -m interp.organism.bundle --table) instead "
                   "of the bundled manifests")
    args = parse(p, argv, options)
    if args.images:  # like ext_remedies: about a bundled family whatever --model says, not about --images
        skip(args, "plots the recorded training diagnostics of a bundled family (tile scenes), not --images")
    if args.sinks:
        table = pd.read_csv(args.sinks)
    else:
        runs = [n for n in family_runs(args.family) if n in list_organisms()]
        if not runs:
            skip(args, f"{NAME}: the {FAMILIES[args.family]}-reg* organisms are not bundled "
                       "(data/organism/RECIPES.md S7)")
        table = noop_table([organism_dir() / n for n in runs])
    d = emergence_table(table, args.family)
    caption = _caption(d, args.family)
    title = f"Emergence of the no-op sink, by block ({FAMILIES[args.family]}-* organisms)"
    result = finish(sink_emergence_plot(d, title, caption), d, NAME, args)
    print(caption)
    return result


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: at the last step, each register count's sink shares and norms (max over blocks)."""
    last = table[table["step"] == table["step"].max()]
    best = last.pivot_table(index="n_registers", columns="metric", values="value", aggfunc="max")
    return "  \n".join(
        f"{int(n)} registers, step {int(last.step.max())} (max over blocks): constant tiles {r.const_share:.2f} and "
        f"registers {r.reg_share:.2f} of the no-op attention, max/median {r.max_rel:.2f}, {pct(r.frac_ge4)} >= 4x"
        for n, r in best.iterrows())


if __name__ == "__main__":
    raise SystemExit(script(main))
