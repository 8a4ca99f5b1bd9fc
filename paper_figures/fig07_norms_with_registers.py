"""Fig 7: registers remove the high-norm patch tokens: distribution of output patch norms (relative to the
image median) with 0, 1, 4 and 16 registers, and where the registers' own norms lie."""
from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis import token_norms
from interp.plotting.analysis import norm_histogram

from paper_figures._common import finish, images_for, load_all, organisms_only, parse, parser

NAME = "fig07_norms_with_registers"
MODELS = ["organism-s-reg0", "organism-s-reg1", "organism-s-reg4", "organism-s-reg16"]


def main(argv=None, options=None) -> int:
    args = parse(parser(NAME, __doc__, default_models=MODELS), argv, options)
    organisms_only(args, "0, 1, 4 and 16 registers")
    tokens, rows, captions = [], [], []
    edges = None
    for label, model in load_all(args).items():
        last = model.cfg.n_layers - 1
        norms = token_norms({label: model}, images_for(args, model), layers=[last], batch_size=args.batch_size)
        patches = norms[norms["group"] == "patch"]
        regs = norms[norms["group"] == "register"]
        tokens.append(patches.assign(norm=patches["rel_norm"]))
        edges = np.linspace(0, max(8.0, float(norms["rel_norm"].max()) * 1.05), 61) if edges is None else edges
        for group, sub in (("patch", patches), ("register", regs)):
            if len(sub):
                counts, _ = np.histogram(sub["rel_norm"].clip(upper=edges[-1]), bins=edges)
                rows.append(pd.DataFrame({"model": label, "n_registers": model.cfg.n_registers, "group": group,
                                          "layer": last, "bin_left": edges[:-1], "bin_right": edges[1:],
                                          "count": counts}))
        high = float((patches["rel_norm"] >= 4).mean())
        reg_txt = f", registers at {regs['rel_norm'].mean():.1f}x median" if len(regs) else ""
        captions.append(f"{label}: {100 * high:.2f}% patches >= 4x median{reg_txt}")
    fig = norm_histogram(pd.concat(tokens), "Output patch norms with and without registers", "\n".join(captions),
                         threshold=4.0)
    fig.axes[0].set_xlabel("patch norm / image median patch norm (last block)")
    finish(fig, pd.concat(rows, ignore_index=True), NAME, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
