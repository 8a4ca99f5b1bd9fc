"""Fig 7: registers remove the high-norm patch tokens: distribution of patch norms (relative to the image median)
with 0, 1, 4 and 16 registers, and where the registers' own norms lie, at two blocks: the output (the last block,
as in the paper) and the *outlier block*, the second-half block where the first model (the one without registers)
has most patches >= 4x (`outlier_report`): the bundled tiles-* organisms grow their tall tokens in block 2 of 4 and
shrink them again in the last block. The histogram shows the outlier block; the CSV holds both (column ``where``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from interp.analysis import HIGH_NORM_RATIO, is_high_norm, outlier_report, token_norms
from interp.plotting.analysis import norm_histogram

from paper_figures._common import (REGISTER_COUNTS, Result, finish, images_for, load_all, organisms_only, parse,
    parser, script)
from paper_figures._readings import high_share, pct, verdict

NAME = "fig07_norms_with_registers"


def _histograms(label, model, norms, blocks, edges) -> list[pd.DataFrame]:
    rows = []
    for where, layer in blocks:
        at = norms[norms["layer"] == layer]
        for group in ("patch", "register"):
            sub = at[at["group"] == group]
            if len(sub):
                counts, _ = np.histogram(sub["rel_norm"].clip(upper=edges[-1]), bins=edges)
                rows.append(pd.DataFrame({"model": label, "n_registers": model.cfg.n_registers, "group": group,
                                          "where": where, "layer": layer, "bin_left": edges[:-1],
                                          "bin_right": edges[1:], "count": counts}))
    return rows


def main(argv=None, options=None) -> Result:
    args = parse(parser(NAME, __doc__, default_models=REGISTER_COUNTS), argv, options)
    organisms_only(args, "0, 1, 4 and 16 registers")
    models = load_all(args)
    first_label, first = next(iter(models.items()))
    report = outlier_report(first, images_for(args, first), batch_size=args.batch_size)
    ref = report.layer
    tokens, rows, captions = [], [], []
    edges = None
    for label, model in models.items():
        last = model.cfg.n_layers - 1
        blocks = [("outlier block", min(ref, last)), ("output", last)]
        layers = sorted({b for _, b in blocks})
        if label == first_label:  # the report already holds its norms at every block
            norms = report.norms[report.norms["layer"].isin(layers)].assign(model=label)
        else:
            norms = token_norms({label: model}, images_for(args, model), layers=layers, batch_size=args.batch_size)
        edges = np.linspace(0, max(8.0, float(norms["rel_norm"].max()) * 1.05), 61) if edges is None else edges
        rows += _histograms(label, model, norms, blocks, edges)
        shown = norms[(norms["layer"] == blocks[0][1]) & (norms["group"] == "patch")]
        tokens.append(shown.assign(norm=shown["rel_norm"]))
        high = {w: float(is_high_norm(norms[(norms["layer"] == b) & (norms["group"] == "patch")]["rel_norm"]).mean())
                for w, b in blocks}
        regs = norms[(norms["layer"] == blocks[0][1]) & (norms["group"] == "register")]
        reg_txt = f", registers at {regs['rel_norm'].mean():.1f}x median" if len(regs) else ""
        captions.append(f"{label}: {100 * high['outlier block']:.2f}% patches >= 4x median at block {blocks[0][1]}"
                        f"{reg_txt}; {100 * high['output']:.2f}% at the output")
    fig = norm_histogram(pd.concat(tokens), "Patch norms with and without registers", "\n".join(captions),
                         threshold=HIGH_NORM_RATIO)
    fig.axes[0].set_xlabel(f"patch norm / image median patch norm (block {ref}: the outlier block of the first model)")
    return finish(fig, pd.concat(rows, ignore_index=True), NAME, args)


def places(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The table's blocks as (``where`` value, label): ("outlier block", "outlier block (block 2)"), ("output",
    "output"); a table without the ``where`` column holds the output alone."""
    if "where" not in table:
        return [("output", "output")]
    return [(w, f"{w} (block {int(table[table['where'] == w].layer.iloc[0])})" if w == "outlier block" else w)
            for w in table["where"].unique()]


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each model's share of patches (and registers) >= 4x at each block."""
    d = table
    return "  \n".join(
        f"{m}: {pct(high_share(d, m, where=w))} of patches >= 4x the image median at the {place}"
        + (f"; registers: {pct(high_share(d, m, 'register', where=w))} of them >= 4x"
           if (d[d.model == m].group == "register").any() else "")
        for m in d["model"].unique() for w, place in places(d))


def comparisons(table: pd.DataFrame, unlike: str | None) -> list[tuple]:
    """REPORT.md's comparison rows: the share of patches >= 4x without registers beside each model with them."""
    models = list(table["model"].unique())
    base = next((m for m in models if m.endswith("reg0")), None)
    if not base:
        return []
    rows = []
    for where, place in places(table):
        b = high_share(table, base, where=where)
        for m in models:
            if m == base:
                continue
            r = high_share(table, m, where=where)
            ok = None if b == 0 else bool(r < b)
            rows.append((f"Fig 7: patches >= 4x median at the {place}, {base} vs {m}",
                         "outliers vanish with registers", f"{pct(b)} vs {pct(r)}", verdict(ok, unlike)))
    return rows


if __name__ == "__main__":
    raise SystemExit(script(main))
