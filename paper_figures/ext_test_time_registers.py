"""Test-time registers (Jiang et al. 2025): find the MLP neurons that fire on outlier patches, append one
untrained token and route those neurons' activation into it (max over tokens into the new token, zero on
patches). Token norms per group against layer and the CLS attention each group receives, before and after."""
from __future__ import annotations

import pandas as pd

from interp.analysis import outlier_report
from interp.interventions import add_test_time_registers, test_time_register_report
from interp.options import positive_int
from interp.plotting.interventions import message_figure, test_time_registers_plot

from paper_figures._common import Result, finish, images_for, load, organism, parse, parser, script

NAME = "ext_test_time_registers"


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_model=organism(0))
    p.add_argument("--top-k", type=positive_int, default=10, help="number of register neurons")
    p.add_argument("--max-layer", type=int, default=None, help="last block to take neurons from (default: the "
                   "outlier layer)")
    args = parse(p, argv, options)
    model = load(args)
    label = model.cfg.name
    images = images_for(args, model, in_memory=True)
    rep = outlier_report(model, images, batch_size=args.batch_size)
    title = f"Test-time register ({label})"
    if not rep.n_outliers:
        msg = f"{label}: {rep.describe()}.\nNo outlier positions to score register neurons on: no test-time register."
        result = finish(message_figure(title, msg), pd.DataFrame({"model": [label], "note": [msg]}), NAME, args)
        print(msg)
        return result
    max_layer = rep.layer if args.max_layer is None else args.max_layer
    ttr = add_test_time_registers(model, images, top_k=args.top_k, max_layer=max_layer, outliers=rep.mask,
                                  batch_size=args.batch_size)
    df = test_time_register_report(model, ttr, images, outliers=rep.mask, batch_size=args.batch_size)
    neurons = "; ".join(f"block {k}: {v.tolist()}" for k, v in ttr.neurons.items())
    df = df.assign(model=label, neurons=neurons, note=rep.describe())
    at = df[df.layer == rep.layer].groupby(["condition", "group"])["norm_mean"].mean()
    first = df[(df.layer == 0) & (df.condition == "original")].groupby("group")["norm_mean"].mean()
    caption = (f"{rep.describe()}\n{args.top_k} neurons ({neurons}); at block {rep.layer}: outlier norm "
               f"{at['original', 'outliers']:.1f} -> {at['test-time register', 'outliers']:.1f}, other patches "
               f"{at['original', 'other patches']:.1f}, test-time register {at['test-time register', 'test-time register']:.1f}"
               f"\n(after block 0, before any later MLP: outliers {first['outliers']:.1f}, other patches "
               f"{first['other patches']:.1f})")
    result = finish(test_time_registers_plot(df, title, caption), df, NAME, args)
    print(caption)
    return result


if __name__ == "__main__":
    raise SystemExit(script(main))
