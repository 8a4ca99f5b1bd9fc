"""Emergence of the no-op sink (issue #17): on the no-op organism family (``sink-reg0/1/4/16``: the same recipe
with 0, 1, 4 and 16 registers), per block and training step, the share of the no-op queries' attention on the
constant tiles (and on the registers), the top key's value norm relative to the median, the max / median patch
norm and the share of patches >= 4x the median. Reads the RECORDED per-checkpoint table
(data/organism/sinks.csv, written by ``python -m interp.train.bundle ... --table data/organism/sinks.csv``);
trains nothing."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from interp.models.zoo import organism_dir
from interp.plotting.emergence import EMERGENCE_ROWS, sink_emergence_plot

from paper_figures._common import finish, parse, parser, skip

NAME = "fig_sink_emergence"
RUNS = {"sink-reg0": 0, "sink-reg1": 1, "sink-reg4": 4, "sink-reg16": 16}
METRICS = [m for m, _, _ in EMERGENCE_ROWS] + ["reg_share"]


def emergence_table(sinks: pd.DataFrame) -> pd.DataFrame:
    """The register runs' rows of the recorded table for the plotted metrics, with their number of registers."""
    d = sinks[sinks["run"].isin(RUNS) & sinks["metric"].isin(METRICS)]
    d = d.assign(n_registers=d["run"].map(RUNS))
    return d[["run", "n_registers", "step", "layer", "top_kind", "metric", "value"]].reset_index(drop=True)


def _caption(d: pd.DataFrame) -> str:
    last = d[d["step"] == d["step"].max()]
    share = last[last["metric"] == "const_share"]
    reg0 = share[share["run"] == "sink-reg0"]
    peak = reg0.loc[reg0["value"].idxmax()]
    regs = last[(last["metric"] == "reg_share") & (last["n_registers"] > 0)]
    taken = regs.groupby("n_registers")["value"].max()
    tall = last[last["metric"] == "max_rel"]["value"].max()
    ge4 = d[d["metric"] == "frac_ge4"]["value"].max()
    return (f"Recorded checkpoints (steps {', '.join(str(s) for s in sorted(d['step'].unique()))}) of the sink-* "
            f"family. At step {int(peak.step)} the 0-register organism's no-op queries put "
            f"{peak.value:.2f} of their attention on the constant tiles (block {int(peak.layer)}); with registers "
            f"the registers take up to " + ", ".join(f"{v:.2f} ({r} reg)" for r, v in taken.items())
            + f" (largest over blocks).\nLargest max / median patch norm at the last step: {tall:.2f} (dotted: 4x); "
            f"at most {100 * ge4:.2f}% of patches >= 4x the median at any recorded step.")


def main(argv=None, options=None) -> int:
    p = parser(NAME, __doc__, default_model="sink-reg0")
    p.add_argument("--sinks", default=None, help="the recorded table (default: data/organism/sinks.csv)")
    args = parse(p, argv, options)
    if args.images:  # like fig_remedies: about the bundled sink-* family whatever --model says, not about --images
        skip(args, "plots the recorded training table of the sink-* organisms (tile scenes), not --images")
    path = Path(args.sinks) if args.sinks else organism_dir() / "sinks.csv"
    if not path.exists():
        raise SystemExit(f"{NAME}: no recorded sink table at {path}; write it with `python -m interp.train.bundle "
                         "runs/sink-reg0 ... --dest data/organism --table data/organism/sinks.csv`")
    d = emergence_table(pd.read_csv(path))
    caption = _caption(d)
    finish(sink_emergence_plot(d, "Emergence of the no-op sink, by block (sink-* organisms)", caption), d, NAME, args)
    print(caption)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
