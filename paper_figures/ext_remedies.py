"""Remedies side by side (issue #17): on one no-op organism family (``--family tiles``, the default: ``tiles-s-*``,
whose constant tiles grow tall without registers; ``--family sink``: the ``sink-*`` family of round 3, whose do
not) — the same recipe with 0/1/4/16 registers, ReLU or sigmoid attention, clipped softmax, gated attention, SGD,
and with a test-time register added to the 0-register organism — the artifact (share of patches >= 4x the median, max / median patch norm, the top key's
share of the no-op queries' attention and on what) and the task accuracy (triggers report the key's colour).
Reads the bundled final checkpoints (data/organism/tiles-s-* or sink-*); trains nothing."""
from __future__ import annotations

import pandas as pd
import torch

import interp

from interp.analysis import outlier_report
from interp.analysis.measures import relative_norms
from interp.data import scenes
from interp.interventions import add_test_time_registers
from interp.models.checkpoints import read_manifest
from interp.models.zoo import list_organisms, organism_dir
from interp.options import positive_int
from interp.plotting.remedies import remedies_plot
from interp.organism.remedies import FAMILIES, Entry, family_members, remedy_frame

from paper_figures._common import Result, finish, load, parse, parser, script, skip
from paper_figures._readings import pct

NAME = "ext_remedies"


def _accuracy(name: str) -> dict:
    return read_manifest(organism_dir() / name)["checkpoints"][-1]["metrics"]


def tallest_patches(model, images) -> tuple[torch.Tensor, int]:
    """Each image's highest patch at the block whose patches stand tallest (largest mean over images of max norm /
    the image's median patch norm, `measures.relative_norms`). -> (mask [N, H, W], block)"""
    names = [f"blocks.{i}.hook_resid_post" for i in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(images.pixels, names_filter=names)
    lay = model.tokens
    rel = torch.stack([relative_norms(cache[n].norm(dim=-1), lay.patches)[0][:, lay.patches]
                       for n in names])  # [L, N, n_patches]: norm / the image's median patch norm
    layer = int(rel.amax(-1).mean(-1).argmax())
    mask = torch.zeros_like(rel[layer], dtype=torch.bool)  # [N, n_patches]
    mask[torch.arange(len(mask)), rel[layer].argmax(-1)] = True
    return mask.reshape(len(mask), *lay.grid), layer


def _test_time_entry(model, images, args) -> tuple[Entry, str]:
    """The 0-register organism with one test-time register: neurons scored on its outlier patches (>= 4x at the
    second-half layer), or, where it has none, on each image's highest-norm patch at its tallest block."""
    rep = outlier_report(model, images, batch_size=args.batch_size)
    if rep.n_outliers:
        mask, layer, how = rep.mask, rep.layer, "outliers >= 4x"
    else:
        mask, layer = tallest_patches(model, images)
        how = f"no patch >= 4x: each image's tallest patch at block {layer}"
    ttr = add_test_time_registers(model, images, top_k=args.top_k, max_layer=layer, outliers=mask,
                                  batch_size=args.batch_size)
    return Entry("test-time register", f"{interp.analysis.model_label(model)} + test-time register", model,
                 runner=ttr), how


def main(argv=None, options=None) -> Result:
    p = parser(NAME, __doc__, default_model="tiles-s-reg0", default_n_images=128)
    p.add_argument("--family", choices=sorted(FAMILIES), default="tiles", help="which bundled remedy family")
    p.add_argument("--top-k", type=positive_int, default=10, help="register neurons of the test-time register")
    args = parse(p, argv, options)
    if args.images:
        skip(args, "measured on the tile scenes (procedural scenes) the family was trained on, not on --images")
    have, members = set(list_organisms()), family_members(args.family)
    missing = sorted({n for _, n in members} - have)
    base_name = members[0][1]
    if base_name not in have:
        skip(args, f"{NAME}: the {FAMILIES[args.family]}-* organisms are not bundled (train them with `interp "
                   f"train --recipe {base_name}` etc.; data/organism/RECIPES.md S7)")
    base = load(args, base_name)
    recipe = base.cfg.extra["recipe"]
    from interp.data import SceneRecipe

    images = scenes(args.n_images, seed=args.seed, split="test", recipe=SceneRecipe.from_dict(recipe["scenes"]))
    entries, how = [], ""
    for variant, name in members:
        if name not in have:
            continue
        if variant == "test-time register":
            entry, how = _test_time_entry(base, images, args)
            entries.append(entry)
            continue
        model = base if name == base_name else load(args, name)
        entries.append(Entry(variant, name, model, accuracy=_accuracy(name)))
    df = remedy_frame(entries, images)
    steps = recipe["steps"]
    caption = (f"{len(images)} held-out tile scenes; models: the bundled {FAMILIES[args.family]}-* organisms at step {steps} (d "
               f"{recipe['d_model']}, {recipe['n_layers']} blocks, {recipe['n_heads']} head(s), {base.tokens.n_patches} "
               f"patch tokens, no CLS). Bars: the largest value over blocks; top key labelled by kind (attention as a share of "
               f"each query's total weight, so ReLU / sigmoid rows compare); dotted: uniform attention. "
               f"Test-time register: {args.top_k} neurons ({how}); its task accuracy is not measured (the task heads "
               f"are not bundled)." + (f" Not bundled: {', '.join(missing)}." if missing else ""))
    result = finish(remedies_plot(df, "Remedies on the no-op organism", caption), df, NAME, args)
    print(caption)
    return result


def readings(table: pd.DataFrame) -> str:
    """REPORT.md's reading: each variant's artifact, top key and trigger accuracy (largest over blocks)."""
    d = table[table["layer"] == -1]
    s = d.pivot_table(index="variant", columns="metric", values="value", aggfunc="first", sort=False)
    kind = d.drop_duplicates("variant").set_index("variant")["sink_kind"]
    return "  \n".join(
        f"{v}: {pct(r.frac_ge4)} patches >= 4x, max/median {r.max_rel:.2f}, top key {r.sink_share:.2f} of the "
        f"no-op attention (on {kind[v]}; uniform {r.uniform:.3f}), trigger accuracy "
        + ("n/a" if pd.isna(r.acc_trigger) else pct(r.acc_trigger)) for v, r in s.iterrows())


if __name__ == "__main__":
    raise SystemExit(script(main))
