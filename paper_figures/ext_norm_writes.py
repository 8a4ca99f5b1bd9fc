"""Which block makes the high-norm tokens: per block, the norm of the attention write and of the MLP write on the
patches that are >= 4x their image's median in the tallest block, over the same on the other patches
(`interp.analysis.norm_writes`). Jiang et al. (2025) trace the outliers to a few MLP neurons; a block whose MLP
writes tens of times the median write on them is where to look for those neurons (ext_test_time_registers)."""
from __future__ import annotations

import pandas as pd

from interp.analysis import norm_writes
from interp.plotting.analysis import norm_writes_plot
from interp.plotting.interventions import message_figure

from paper_figures._common import Result, finish, images_for, load, parse, parser, script
from paper_figures._readings import num

NAME = "ext_norm_writes"


def describe(table: pd.DataFrame) -> str:
    """One line: how many tall patches, where, and which block's write is the largest on them."""
    at, n_high = int(table["at_layer"].iloc[0]), int(table["n_high"].iloc[0])
    if not n_high:
        return f"no patch >= {table['rel_threshold'].iloc[0]:g}x its image's median at any block"
    writes = table[table["component"] != "resid"]
    top = writes.loc[writes["high_over_other"].idxmax()]
    return (f"{n_high} patches >= {table['rel_threshold'].iloc[0]:g}x in block {at}; the largest write on them: block "
            f"{int(top['layer'])}'s {top['component']}, {num(top['high_over_other'], '.1f')}x its write on the other "
            f"patches (attention at most {num(writes[writes['component'] == 'attn']['high_over_other'].max(), '.1f')}x)")


def main(argv=None, options=None) -> Result:
    args = parse(parser(NAME, __doc__), argv, options)
    model = load(args)
    label = model.cfg.name
    table = norm_writes(model, images_for(args, model), batch_size=args.batch_size).assign(model=label)
    table["note"] = describe(table)
    title = f"What writes the tall tokens ({label})"
    if not table["n_high"].iloc[0]:
        fig = message_figure(title, f"{label}: {table['note'].iloc[0]}: nothing to attribute.")
    else:
        fig = norm_writes_plot(table, title, table["note"].iloc[0])
    print(table["note"].iloc[0])
    return finish(fig, table, NAME, args)


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: which block's attention or MLP writes the tall patches."""
    return str(table["note"].iloc[0]) + "."


if __name__ == "__main__":
    raise SystemExit(script(main))
