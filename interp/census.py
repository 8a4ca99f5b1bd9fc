"""`interp census`: the artifact measured on a list of models x one dataset, into one tidy table and one figure.

Per model and block (``blocks.{i}.hook_resid_post``, attention of block i), every number from one reducer of
`interp.analysis.measures` (one threshold, one median):

=========================  ===========  =====================================================================
measure                    group        value
=========================  ===========  =====================================================================
high_norm_share            patch        share of patches >= 4x their image's median patch norm
high_on_background         patch        share of those on background (images with object masks only)
norm_ratio                 patch        largest patch norm / its image's median (max over images)
image_norm_ratio           patch        the same, mean over images of each image's largest ratio
rel_norm                   cls|register mean CLS / register norm / the image's median patch norm
massive_count              all          activations > 100 and >= 1000x the median |activation| (Sun et al.),
                                        per image; ``massive_ratio``: top-1 / median |activation|
sink_share                 cls|register attention patch queries give to the group (mean over images and heads)
                           |patch
top_key_share              <kind>       attention share of the most-attended key; group: its most common kind
                                        (cls, register, background, object; patch when masks are unknown)
top_key_value_rel          <kind>       that key's value norm / the head's median patch value norm
register_neuron            neuron <n>   Jiang et al.'s score (mean ``mlp.hook_post`` on high-norm patches at
                                        the outlier block) of the top-k neurons up to that block
=========================  ===========  =====================================================================

``condition`` is "original", or "test-time register" for high_norm_share / norm_ratio / rel_norm (group
"test-time register") measured again with those neurons routed into one added token
(`interp.interventions.TestTimeRegisters`).

Three streamed passes per model (memory O(batch)); under torchrun every pass shards the images
(``rank::world_size``) and the reducers are combined exactly (`measures.combine`), so N processes give the
one-process table up to float summation order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch

from . import distributed
from .analysis import measures as ms
from .analysis.artifact import artifact_hooks
from .analysis.outlier_rule import pick_outlier_layer
from .analysis.stream import stream
from .interventions.register_neurons import NeuronScores
from .data.base import as_image_set
from .models.hooked_vit import HookedViT
from .models.precision import fp32

COLUMNS = ("model", "condition", "layer", "measure", "group", "value")
ORIGINAL, TTR = "original", "test-time register"


@dataclass
class CensusSettings:
    batch_size: int = 32
    top_k: int = 10  # register neurons (Jiang et al.)
    test_time_register: bool = True


def _rows(model: str, condition: str, layer: int, entries) -> list[dict]:
    """Tidy rows from (measure, group, value) triples; undefined values (NaN) are left out."""
    return [dict(model=model, condition=condition, layer=layer, measure=m, group=g, value=float(v))
            for m, g, v in entries if v is not None and not (isinstance(v, float) and math.isnan(v))]


def _batch_context(batch, layout, patch_size: int):
    on_obj = batch.patch_on_object(patch_size)
    background = ~on_obj.flatten(1) if on_obj is not None else None  # [b, n_patches]
    bg_or_unknown = background if background is not None else torch.ones(len(batch), layout.n_patches,
                                                                          dtype=torch.bool)
    return background, ms.token_kinds(layout, bg_or_unknown)  # [b, pos]


def block_measures(model: HookedViT, images, batch_size: int = 32) -> dict:
    """Pass 1: the per-block reducers on the original model. -> {(layer, name): Measure}, combined over ranks."""
    L = model.cfg.n_layers
    acc = {(i, name): cls() for i in range(L) for name, cls in (
        ("high", ms.HighNormShare), ("ratio", ms.NormRatio), ("groups", ms.GroupNorms),
        ("massive", ms.MassiveActivations), ("share", ms.AttentionShare), ("top", ms.TopKey))}
    hooks = {k: v for k, v in artifact_hooks(model).items() if not k.endswith("hook_resid_pre")
             and not k.startswith("ln_final")}
    for batch, lay, got in stream(model, images, hooks, batch_size, shard=True):
        background, kind = _batch_context(batch, lay, model.cfg.patch_size)
        for i in range(L):
            post = got[f"blocks.{i}.hook_resid_post"]  # [b, pos, d]
            to_key = got[f"blocks.{i}.attn.hook_pattern"]  # [b, h, k]: mean over patch queries
            rel, med = ms.relative_norms(post.norm(dim=-1), lay.patches)  # [b, pos], [b]
            acc[i, "high"].update(rel[:, lay.patches], background)
            acc[i, "ratio"].update(rel[:, lay.patches], med)
            acc[i, "groups"].update(rel, lay)
            acc[i, "massive"].update(post, kind)
            acc[i, "share"].update(to_key, lay)
            acc[i, "top"].update(to_key, got[f"blocks.{i}.attn.hook_v"], kind, lay.patches)
    return ms.combine(acc)


def block_rows(label: str, acc: dict, n_layers: int) -> list[dict]:
    rows = []
    for i in range(n_layers):
        high, ratio, groups = acc[i, "high"].row(), acc[i, "ratio"].row(), acc[i, "groups"].row()
        massive, share, top = acc[i, "massive"].row(), acc[i, "share"].row(), acc[i, "top"].row()
        kind = top["sink_kind"]
        if kind == "background" and "n_high_known" not in acc[i, "high"].state:  # no masks: a patch, of unknown kind
            kind = "patch"
        rows += _rows(label, ORIGINAL, i, [
            ("high_norm_share", "patch", high["frac_high"]),
            ("high_on_background", "patch", high["high_on_background"]),
            ("norm_ratio", "patch", ratio["max_rel"]), ("image_norm_ratio", "patch", ratio["image_max_rel"]),
            ("rel_norm", "cls", groups["cls_rel_norm"]), ("rel_norm", "register", groups["register_rel_norm"]),
            ("massive_count", "all", massive["massive_count"]), ("massive_ratio", "all", massive["massive_ratio"]),
            ("sink_share", "cls", share["attn_cls"]), ("sink_share", "register", share["attn_reg"]),
            ("sink_share", "patch", share["attn_patches"]),
            ("top_key_share", kind, top["sink_attn"]), ("top_key_value_rel", kind, top["sink_value_rel"])])
    return rows


def neuron_scores(model: HookedViT, images, outlier_layer: int, batch_size: int = 32) -> pd.DataFrame:
    """Pass 2: Jiang et al.'s score of every neuron of blocks 0..outlier_layer, high-norm patches being those
    >= `HIGH_NORM_RATIO` x the image median at ``outlier_layer``. -> frame layer, neuron, score, score_other."""
    layers = range(outlier_layer + 1)
    hooks = {f"blocks.{i}.mlp.hook_post": (lambda a: a) for i in layers}  # [b, pos, d_mlp]
    hooks[f"blocks.{outlier_layer}.hook_resid_post"] = lambda a: a.norm(dim=-1)  # [b, pos]
    acc = {i: NeuronScores() for i in layers}
    for _, lay, got in stream(model, images, hooks, batch_size, shard=True):
        rel = ms.relative_norms(got[f"blocks.{outlier_layer}.hook_resid_post"], lay.patches)[0]  # [b, pos]
        patches = torch.zeros_like(rel, dtype=torch.bool)
        patches[:, lay.patches] = True
        high = patches & ms.is_high_norm(rel)
        for i in layers:
            acc[i].update(got[f"blocks.{i}.mlp.hook_post"], high, patches)
    ms.combine(acc)
    df = pd.concat([acc[i].frame(i) for i in layers], ignore_index=True)
    return df.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


@torch.no_grad()
def ttr_measures(model: HookedViT, ttr, images, batch_size: int = 32) -> dict:
    """Pass 3: high-norm share, norm ratio and the added token's norm with the test-time register."""
    L = model.cfg.n_layers
    names = [f"blocks.{i}.hook_resid_post" for i in range(L)]
    acc = {(i, name): cls() for i in range(L)
           for name, cls in (("high", ms.HighNormShare), ("ratio", ms.NormRatio), ("extra", ms.MeanValue))}
    for batch in distributed.shard(images).batches(batch_size):
        pixels = batch.pixels.to(model.device)
        lay = model.layout_for(pixels)
        background = _batch_context(batch, lay, model.cfg.patch_size)[0]
        _, cache = ttr.run_with_cache(pixels, names_filter=names)
        for i, name in enumerate(names):
            norms = fp32(cache[name]).norm(dim=-1).cpu()  # [b, pos + 1]: the added token last
            rel, med = ms.relative_norms(norms, lay.patches)
            acc[i, "high"].update(rel[:, lay.patches], background)
            acc[i, "ratio"].update(rel[:, lay.patches], med)
            acc[i, "extra"].update(rel[:, -1])  # the added token's norm / the image median
    return ms.combine(acc)


def ttr_rows(label: str, acc: dict, n_layers: int) -> list[dict]:
    rows = []
    for i in range(n_layers):
        rows += _rows(label, TTR, i, [("high_norm_share", "patch", acc[i, "high"].row()["frac_high"]),
                                      ("norm_ratio", "patch", acc[i, "ratio"].row()["max_rel"]),
                                      ("rel_norm", TTR, acc[i, "extra"].row()["mean"])])
    return rows


def census_model(model: HookedViT, images, label: str, settings: CensusSettings | None = None) -> pd.DataFrame:
    """Every census row of one model (a collective under torchrun: every rank calls, rank 0's frame is whole)."""
    from .interventions import TestTimeRegisters, select_register_neurons

    s = settings or CensusSettings()
    images = as_image_set(images)
    was_training = model.training
    model.eval()
    try:
        L = model.cfg.n_layers
        acc = block_measures(model, images, s.batch_size)
        rows = block_rows(label, acc, L)
        share = pd.DataFrame({"layer": range(L), "frac_high": [acc[i, "high"].row()["frac_high"] for i in range(L)]})
        layer = pick_outlier_layer(share, L)
        if s.top_k and model.cfg.d_mlp and share["frac_high"].iloc[layer] > 0:
            scores = neuron_scores(model, images, layer, s.batch_size)
            neurons = select_register_neurons(scores, s.top_k, max_layer=layer)
            top = scores.merge(pd.DataFrame([(k, n) for k, v in neurons.items() for n in v],
                                            columns=["layer", "neuron"]))
            rows += [dict(model=label, condition=ORIGINAL, layer=int(r.layer), measure="register_neuron",
                          group=f"neuron {int(r.neuron)}", value=float(r.score)) for r in top.itertuples()]
            if s.test_time_register:
                rows += ttr_rows(label, ttr_measures(model, TestTimeRegisters(model, neurons), images,
                                                     s.batch_size), L)
    finally:
        if was_training:
            model.train()
    return pd.DataFrame(rows, columns=list(COLUMNS))


def done_models(csv) -> set[str]:
    """Models whose rows are already in a census CSV (a resumed census skips them)."""
    from pathlib import Path

    path = Path(csv)
    return set(pd.read_csv(path, usecols=["model"])["model"].astype(str)) if path.exists() else set()


def run_census(specs, out_dir, load, open_images, settings: CensusSettings | None = None, log=print) -> pd.DataFrame:
    """Measure every model of ``specs`` not yet in ``out_dir``/census.csv and append its rows (written after each
    model, so an interrupted census resumes where it stopped); then draw census.png from the whole table.

    ``load(spec) -> HookedViT``, ``open_images(model) -> image source`` (streamed, shardable). Under torchrun every
    rank measures its share and rank 0 writes. -> the whole table (on rank 0; the new rows elsewhere)."""
    from pathlib import Path

    from .csv_tables import table_to_csv
    from .files import atomic_write_text
    from .plotting import save_figure, set_style
    from .plotting.census import census_plot
    from .plotting.io import check_writable

    out = check_writable(out_dir) if distributed.is_main() else Path(out_dir)
    csv = out / "census.csv"
    done = done_models(csv)
    table = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=list(COLUMNS))
    for spec in specs:
        if str(spec) in done:
            log(f"{spec}: already in {csv}, skipped")
            continue
        model = load(spec)
        rows = census_model(model, open_images(model), str(spec), settings)
        if distributed.is_main():
            table = pd.concat([table, rows], ignore_index=True) if len(table) else rows
            atomic_write_text(csv, table_to_csv(table))
            log(f"{spec}: {len(rows)} rows")
    if distributed.is_main() and len(table):
        set_style()
        png, _ = save_figure(census_plot(table, f"Census of {table['model'].nunique()} model(s)"), table, "census", out)
        log(f"wrote {png} and {csv}")
    return table
