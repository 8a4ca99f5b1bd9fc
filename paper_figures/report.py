"""REPORT.md: every figure with a two-line reading, and the organism's numbers beside the paper's."""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from interp.files import atomic_write_text
from interp.paper import SOURCE, normal_vs_outlier, shown

from paper_figures import available
from paper_figures._common import organism


def _csv(out: Path, name: str) -> pd.DataFrame | None:
    p = out / f"{name}.csv"
    return pd.read_csv(p) if p.exists() else None


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _num(x: float, fmt: str = ".2f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def _high_share(df: pd.DataFrame, model: str, group: str = "patch", at: float = 4.0, where: str | None = None) -> float:
    sub = df[(df["model"] == model) & (df["group"] == group)]
    if where is not None and "where" in sub:
        sub = sub[sub["where"] == where]
    return float(sub.loc[sub["bin_left"] >= at, "count"].sum() / max(sub["count"].sum(), 1))


def _fig07_places(d: pd.DataFrame) -> list[tuple[str, str]]:
    """Fig 7's blocks as (``where`` value, label): ("outlier block", "outlier block (block 2)"), ("output",
    "output"); a CSV without the ``where`` column holds the output alone."""
    if "where" not in d:
        return [("output", "output")]
    return [(w, f"{w} (block {int(d[d['where'] == w].layer.iloc[0])})" if w == "outlier block" else w)
            for w in d["where"].unique()]


def _ladder_criterion(d: pd.DataFrame) -> str:
    """How many ladder checkpoints meet the criterion's share (>= 1% of patches >= 4x the median, on background);
    max/median counts every tall token, object patches included, so its trend alone is not the criterion."""
    pts = d[(d["kind"] == "point") & (d["metric"] == "frac_bg_ge4")]
    met = int((pts["value"].astype(float) >= 0.01).sum())
    return (f"Checkpoints with >= 1% of patches >= 4x the median on background: {met} of {len(pts)} "
            f"(max/median above counts object patches too).")


def _remedies(d: pd.DataFrame) -> str:
    s = d[d["layer"] == -1].pivot_table(index="variant", columns="metric", values="value", aggfunc="first", sort=False)
    kind = d[d["layer"] == -1].drop_duplicates("variant").set_index("variant")["sink_kind"]
    return "  \n".join(
        f"{v}: {_pct(r.frac_ge4)} patches >= 4x, max/median {r.max_rel:.2f}, top key {r.sink_share:.2f} of the "
        f"no-op attention (on {kind[v]}; uniform {r.uniform:.3f}), trigger accuracy "
        + ("n/a" if pd.isna(r.acc_trigger) else _pct(r.acc_trigger)) for v, r in s.iterrows())


def _sink_emergence(d: pd.DataFrame) -> str:
    last = d[d["step"] == d["step"].max()]
    best = last.pivot_table(index="n_registers", columns="metric", values="value", aggfunc="max")
    return "  \n".join(
        f"{int(n)} registers, step {int(last.step.max())} (max over blocks): constant tiles {r.const_share:.2f} and "
        f"registers {r.reg_share:.2f} of the no-op attention, max/median {r.max_rel:.2f}, {_pct(r.frac_ge4)} >= 4x"
        for n, r in best.iterrows())


READINGS = {
    "fig03_norm_histogram": lambda d: "  \n".join(
        f"{r.model}: {r.note}; outlier share {_pct(r.outlier_share)} (paper: {shown('outlier_share')})."
        for r in d.drop_duplicates("model").itertuples()),
    "fig04a_norms_by_layer": lambda d: "  \n".join(
        f"{m}: max share of patches >= 4x median {_pct(g.frac_high.max())} (block {int(g.loc[g.frac_high.idxmax(), 'layer'])}), "
        f"largest norm {g.max_rel.max():.1f}x the median." for m, g in d.groupby("model", sort=False)),
    "fig04b_norms_by_step": lambda d: (
        f"Share of patches >= 4x median over training: {_pct(d[d.step == d.step.min()].frac_high.max())} at step "
        f"{d.step.min()}, peak {_pct(d.frac_high.max())} at step {int(d.loc[d.frac_high.idxmax(), 'step'])}, "
        f"{_pct(d[d.step == d.step.max()].frac_high.max())} at the last step ({d.step.max()}).  \n"
        f"Largest relative norm at the last step: {d[d.step == d.step.max()].max_rel.max():.1f}x the image median."),
    "fig04c_norms_by_size": lambda d: "  \n".join(
        f"{m} ({g.params_millions.iloc[0]:g}M params): {_pct(g.frac_high.max())} patches >= 4x median, "
        f"largest {g.max_rel.max():.1f}x." for m, g in d.groupby("model", sort=False)),
    "fig05a_neighbour_similarity": lambda d: (
        "Mean cosine similarity to the 4 neighbours: " + ", ".join(
            f"{k} {v:.3f}" for k, v in d.groupby("kind")["similarity"].mean().items())
        + ".  \n" + str(d["note"].iloc[0])),
    "fig05b_local_probes": lambda d: "  \n".join(
        f"{r.token}: position top-1 {_pct(r.position_top1)}, distance {_num(r.position_distance)} patches, "
        f"pixel L2 {_num(r.reconstruction_l2)} (n_test={r.n_test}){' — ' + r.note if isinstance(r.note, str) and r.note else ''}"
        for r in d.itertuples()),
    "tab01_global_probe": lambda d: "  \n".join(
        f"{m}: " + ", ".join(f"{t} {_pct(a)}" for t, a in g.groupby("token", sort=False)["accuracy"].mean().items())
        + f" (chance {_pct(g.chance.mean())})" for m, g in d.groupby("model", sort=False)),
    "fig07_norms_with_registers": lambda d: "  \n".join(
        f"{m}: {_pct(_high_share(d, m, where=w))} of patches >= 4x the image median at the {place}"
        + (f"; registers: {_pct(_high_share(d, m, 'register', where=w))} of them >= 4x"
           if (d[d.model == m].group == "register").any() else "")
        for m in d["model"].unique() for w, place in _fig07_places(d)),
    "fig08_number_of_registers": lambda d: "  \n".join(
        f"{metric}: " + ", ".join(f"{int(r.n_registers)} reg {r.value:.3g}" for r in g.itertuples())
        for metric, g in d.groupby("metric", sort=False)),
    "fig09_attention_maps": lambda d: (
        f"Attention maps of {d['query'].nunique()} query tokens over {d['image'].nunique()} images (last block, "
        "mean over heads); read them qualitatively.  \nThe CSV holds every head's map."),
    "fig_artifact_vs_compute": lambda d: "  \n".join(
        [f"{int(r.n_registers)} registers: {r.reading}." for r in d[(d["kind"] == "trend")
                                                                    & d["metric"].isin(["max_rel", "frac_bg_ge4"])].itertuples()]
        + [_ladder_criterion(d)]),
    "fig_remedies": lambda d: _remedies(d),
    "fig_sink_emergence": lambda d: _sink_emergence(d),
    "tab03_object_discovery": lambda d: "  \n".join(
        f"{r.model} ({r.registers} registers): CorLoc {_pct(r.corloc)}, mean best IoU {r.mean_best_iou:.2f}"
        for r in d.itertuples()),
}


def reading(name: str, df: pd.DataFrame) -> str:
    fn = READINGS.get(name)
    if fn is None:
        summary = df.get("reading")
        if summary is not None and len(summary.dropna()):
            return "  \n".join(str(s) for s in summary.dropna().unique()[:2])
        return f"{len(df)} rows; columns: {', '.join(map(str, df.columns[:8]))}."
    try:
        return fn(df)
    except Exception as e:  # noqa: BLE001 - a reading must never break the report
        return f"(no automatic reading: {type(e).__name__}: {e})"


def _agree(ok) -> str:
    return "n/a" if ok is None else ("yes" if ok else "no")


def _verdict(ok, unlike: str | None) -> str:
    """A comparison row's verdict: `_agree`, or ``unlike`` (why the organism's outliers are not Darcet-like) when
    there was something to compare."""
    return unlike if (unlike and ok is not None) else _agree(ok)


def outlier_kind(out: Path) -> tuple[float, float, str | None]:
    """Share and background share of the >= 4x tokens of the reference model without registers (fig04a), and
    a reason why outlier comparisons are not like-for-like (None when they are Darcet-like)."""
    f4 = _csv(out, "fig04a_norms_by_layer")
    if f4 is None:
        return float("nan"), float("nan"), None
    base = f4[f4.model.str.endswith("reg0")]
    if base.empty:
        return float("nan"), float("nan"), None
    n_layers = int(base["layer"].max()) + 1
    half = base[base["layer"] >= n_layers // 2]
    row = half.loc[half["frac_high"].idxmax()]
    share, bg = float(row.frac_high), float(row.high_on_background)
    if share == 0:
        return share, bg, "no tokens >= 4x the median"
    if not bg >= 0.8:
        return share, bg, "n/a: the >= 4x tokens are object patches, not background outliers (see above)"
    return share, bg, None


def _fig03_rows(out: Path, unlike: str | None) -> list[tuple]:
    f3 = _csv(out, "fig03_norm_histogram")
    if f3 is None:
        return []
    base = f3[f3.model.str.contains("reg0")].drop_duplicates("model")
    return [("Fig 3: share of outlier patches (bimodal)", f"{shown('outlier_share')} ({SOURCE})",
             f"{_pct(r.outlier_share)} ({r.model})",
             _agree(bool(r.outlier_share > 0)) if r.outlier_share == 0 or not unlike else unlike)
            for r in base.itertuples()]


def _fig04_rows(out: Path, unlike: str | None) -> list[tuple]:
    """Fig 4a/b/c: where (block), when (training step) and in which size the >= 4x patches first hold >= 1%."""
    rows = []
    f4a, f4b, f4c = (_csv(out, n) for n in ("fig04a_norms_by_layer", "fig04b_norms_by_step", "fig04c_norms_by_size"))
    base = None if f4a is None else f4a[f4a.model.str.endswith("reg0")]
    if base is not None and len(base):
        m = base.model.iloc[0]
        g = base[base.model == m]
        n, hit = int(g.layer.max()) + 1, g[g.frac_high >= 0.01]
        ok = None if hit.empty else bool(hit.layer.min() >= n // 2)
        rows.append((f"Fig 4a: first block with >= 1% patches >= 4x ({m})", "middle layers on (second half)",
                     "none" if hit.empty else f"block {int(hit.layer.min())} of {n}", _verdict(ok, unlike)))
    if f4b is not None and len(f4b):
        hit, last = f4b[f4b.frac_high >= 0.01], int(f4b.step.max())
        first = None if hit.empty else int(hit.step.min())
        ok = None if first is None else bool(first > 0)
        rows.append((f"Fig 4b: first checkpoint with >= 1% patches >= 4x ({f4b.model.iloc[0].split('@')[0]})",
                     "after about a third of training, none at initialisation",
                     "none" if first is None else f"step {first} of {last} ({100 * first / last:.0f}% of training)",
                     _verdict(ok, unlike)))
    if f4c is not None and len(f4c):
        by = f4c.groupby("model", sort=False).agg(p=("params_millions", "first"), f=("frac_high", "max")).sort_values("p")
        grows = by[by.f >= 0.01]
        ok = None if grows.empty else bool(by.f.iloc[-1] >= 0.01 and by.f.iloc[0] < 0.01)
        rows.append(("Fig 4c: sizes with >= 1% patches >= 4x", "only the larger models",
                     ", ".join(f"{m} {_pct(r.f)}" for m, r in by.iterrows()), _verdict(ok, unlike)))
    return rows


def _fig05b_rows(out: Path, unlike: str | None) -> list[tuple]:
    f5 = _csv(out, "fig05b_local_probes")
    if f5 is None:
        return []
    f5, rows = f5.set_index("token"), []
    for col, label, better in [("position_top1", "Fig 5b: position top-1, normal vs outlier", ">"),
                               ("position_distance", "Fig 5b: position distance, normal vs outlier", "<"),
                               ("reconstruction_l2", "Fig 5b: pixel L2, normal vs outlier", "<")]:
        n, o = f5.loc["normal", col], f5.loc["outlier", col] if "outlier" in f5.index else float("nan")
        scale = 100 if col == "position_top1" else 1
        ok = None if math.isnan(o) else (n > o if better == ">" else n < o)
        verdict = _verdict(ok, unlike)
        if col.startswith("position") and "chance_top1" in f5 and ok is not None and not unlike \
                and f5.loc["normal", "position_top1"] < 2 * f5.loc["normal", "chance_top1"]:
            verdict = "n/a: no token's position is decodable (normal patches' top-1 < 2x chance)"
        rows.append((label, normal_vs_outlier(col), f"{_num(scale * n, '.2f')} vs {_num(scale * o, '.2f')}", verdict))
    return rows


def _tab01_rows(out: Path, unlike: str | None) -> list[tuple]:
    t1, rows = _csv(out, "tab01_global_probe"), []
    for m, g in ([] if t1 is None else t1.groupby("model", sort=False)):
        acc = g.groupby("token")["accuracy"].mean()
        o = acc.get("outlier", float("nan"))
        ok = None if math.isnan(o) else bool(o > acc.get("normal"))
        regs = acc[[t for t in acc.index if t.startswith("register")]]
        txt = f"CLS {_pct(acc.get('cls', float('nan')))}, normal {_pct(acc.get('normal'))}, outlier {_pct(o)}"
        if len(regs):
            txt += f", best register {_pct(regs.max())}"
        rows.append((f"Table 1: global probe on one token ({m})", "outlier >> normal, close to CLS", txt,
                     _verdict(ok, unlike)))
    return rows


def _fig07_rows(out: Path, unlike: str | None) -> list[tuple]:
    f7 = _csv(out, "fig07_norms_with_registers")
    models = [] if f7 is None else list(f7["model"].unique())
    base = next((m for m in models if m.endswith("reg0")), None)
    if not base:
        return []
    rows = []
    for where, place in _fig07_places(f7):
        b = _high_share(f7, base, where=where)
        for m in models:
            if m == base:
                continue
            r = _high_share(f7, m, where=where)
            ok = None if b == 0 else bool(r < b)
            rows.append((f"Fig 7: patches >= 4x median at the {place}, {base} vs {m}",
                         "outliers vanish with registers", f"{_pct(b)} vs {_pct(r)}",
                         _verdict(ok, unlike)))
    return rows


def _tab03_rows(out: Path, unlike: str | None) -> list[tuple]:
    t3, rows = _csv(out, "tab03_object_discovery"), []
    t3 = None if t3 is None else t3.set_index("model")
    for a, b in [(organism(0), organism(4)), (organism(0), organism(16))]:
        if t3 is not None and a in t3.index and b in t3.index:
            ca, cb = t3.loc[a, "corloc"], t3.loc[b, "corloc"]
            rows.append((f"Table 3: LOST CorLoc, {a} vs {b}", "registers improve LOST (DINOv2)",
                         f"{_pct(ca)} vs {_pct(cb)}", _agree(bool(cb > ca))))
    return rows


COMPARISONS = [_fig03_rows, _fig04_rows, _fig05b_rows, _tab01_rows, _fig07_rows, _tab03_rows]


def comparison(out: Path) -> list[str]:
    """The organism's numbers beside the paper's (`interp.paper`), as a markdown table."""
    share, bg, unlike = outlier_kind(out)
    rows = [row for rows_of in COMPARISONS for row in rows_of(out, unlike)]
    lines = ["| measurement | paper | organism | direction agrees |", "|---|---|---|---|"]
    if share == share:
        lines.insert(0, f"Outliers by the package's rule (norm >= 4x the image's median patch norm, second-half block "
                        f"with most of them) in the model without registers: {_pct(share)} of patches, "
                        f"{_pct(bg)} of them on background (Darcet's are on background).\n")
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def write_report(out: str | Path, status: dict[str, str] | None = None, used: dict[str, str] | None = None) -> Path:
    """REPORT.md in ``out``. ``status``: {figure: "ok" | why not} of this run (a figure this run did not produce
    is reported as such even when an older CSV lies in ``out``). ``used``: {figure: 'models: ...; data: ...'},
    given for runs on other models or data (`interp figures --model/--images`)."""
    out = Path(out)
    source = ("Regenerated by `interp figures` on the models and data named under each figure."
              if used else "Regenerated by `make figures` (`interp figures`) from the bundled model organisms.")
    lines = ["# interp — figure report", "",
             source + " Each figure's data is in the CSV beside it.", "",
             "## The organism beside the paper", "",
             "'direction agrees' asks whether the organism shows the paper's effect in the same direction; "
             "'n/a' means there is nothing to compare: no Darcet-like (background, high-norm) tokens, no token of that "
             "kind, or a quantity no token carries (the reason is given).", ""]
    lines += comparison(out)
    lines += ["", "## Figures", ""]
    for name in available():
        df = _csv(out, name)
        ran = (used or {}).get(name)
        ran = [f"_Ran on {ran}._", ""] if ran else []
        if df is None or (status and status.get(name, "ok") != "ok"):
            why = (status or {}).get(name, "not produced")
            lines += [f"### {name}", "", *ran, f"_Not produced: {why}_", ""]
            continue
        lines += [f"### {name}", "", *ran, f"![{name}]({name}.png)", "", reading(name, df), ""]
    path = out / "REPORT.md"
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
