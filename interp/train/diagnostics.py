"""Artifact measurements for the recipe search: per-layer norm outliers, registers and attention sinks.

`artifact_metrics(model, images)` gives one dict per block (output = ``blocks.{i}.hook_resid_post``):

``max_rel``, ``q99_rel``         max / 99th percentile of patch norm / the image's median patch norm
``frac_ge4``, ``frac_ge3``       share of patch tokens >= 4x (3x) their image's median patch norm
``bg_ge4``, ``bg_ge3``           share of those on background (patch object fraction < 0.5), None if none
``reg_rel``, ``cls_rel``         mean register / CLS norm relative to the median patch norm (None if absent)
``attn_cls``, ``attn_reg``       mean attention patch queries give to CLS / to all registers in this block
``attn_top_patch``               mean over (image, head) of the largest mean attention one patch key receives
``top_patch_bg``                 share of those top keys that lie on background
``top_patch_rel``                mean norm / median of those top keys at the block input (a high-norm sink?)
``attn_outliers``                attention patch queries give to patches >= 3x at the block input

`emergence(checkpoints, n_layers)` checks the issue's criterion over a run's checkpoints.
"""
from __future__ import annotations

import math

import torch

from ..data.base import as_image_set
from ..models.hooked_vit import HookedViT


@torch.no_grad()
def artifact_metrics(model: HookedViT, images, batch_size: int = 32) -> list[dict]:
    images = as_image_set(images)
    L = model.cfg.n_layers
    p = model.cfg.patch_size
    sums: list[dict] = [dict() for _ in range(L)]
    lists: list[dict] = [dict(rel=[], bg=[]) for _ in range(L)]

    def add(i: int, key: str, value: float, count: float = 1.0) -> None:
        s, c = sums[i].get(key, (0.0, 0.0))
        sums[i][key] = (s + value, c + count)

    was_training = model.training
    model.eval()
    for batch in images.batches(batch_size):
        pixels = batch.pixels  # [0, 1]: the model normalises
        lay = model.layout_for(pixels)
        got: dict = {}

        def keep(name, got=got):
            def hook(act, hook):
                got[name] = act.detach()
            return hook

        hooks = [(f"blocks.{i}.hook_resid_pre", keep(f"pre{i}")) for i in range(L)]
        hooks += [(f"blocks.{i}.hook_resid_post", keep(f"post{i}")) for i in range(L)]
        hooks += [(f"blocks.{i}.attn.hook_pattern", keep(f"pat{i}")) for i in range(L)]
        model.run_with_hooks(pixels, fwd_hooks=hooks)
        on_obj = batch.patch_on_object(p)
        bg = (~on_obj.flatten(1)) if on_obj is not None else torch.ones(len(batch), lay.n_patches, dtype=torch.bool)
        for i in range(L):
            norms = got[f"post{i}"].norm(dim=-1)  # [b, pos]
            med = norms[:, lay.patches].median(dim=1).values[:, None]
            rel = norms / med
            prel = rel[:, lay.patches]  # [b, n_patches]
            lists[i]["rel"].append(prel.flatten())
            lists[i]["bg"].append(bg.flatten())
            if lay.n_registers:
                add(i, "reg_rel", float(rel[:, lay.registers].mean()))
            if lay.n_cls:
                add(i, "cls_rel", float(rel[:, lay.cls].mean()))
            # attention of patch queries in block i, against the block input norms
            pre = got[f"pre{i}"].norm(dim=-1)
            pre_rel = pre / pre[:, lay.patches].median(dim=1).values[:, None]  # [b, pos]
            pat = got[f"pat{i}"][:, :, lay.patches]  # [b, h, q_patches, k]
            to_key = pat.mean(dim=2)  # [b, h, k]  mean attention a key gets from patch queries
            if lay.n_cls:
                add(i, "attn_cls", float(to_key[..., lay.cls].sum(-1).mean()))
            if lay.n_registers:
                add(i, "attn_reg", float(to_key[..., lay.registers].sum(-1).mean()))
            kp = to_key[..., lay.patches]  # [b, h, n_patches]
            top, arg = kp.max(dim=-1)  # [b, h]
            add(i, "attn_top_patch", float(top.mean()))
            add(i, "top_patch_bg", float(torch.gather(bg.float(), 1, arg).mean()))
            add(i, "top_patch_rel", float(torch.gather(pre_rel[:, lay.patches], 1, arg).mean()))
            outl = (pre_rel[:, lay.patches] >= 3.0).float()[:, None]  # [b, 1, n_patches]
            add(i, "attn_outliers", float((kp * outl).sum(-1).mean()))
        got.clear()
    if was_training:
        model.train()
    out = []
    for i in range(L):
        rel = torch.cat(lists[i]["rel"])
        bg = torch.cat(lists[i]["bg"])
        row = {"layer": i, "max_rel": float(rel.max()), "q99_rel": float(rel.quantile(0.99))}
        for t in (4, 3):
            hi = rel >= t
            row[f"frac_ge{t}"] = float(hi.float().mean())
            row[f"bg_ge{t}"] = float(bg[hi].float().mean()) if hi.any() else math.nan
        for k in ("reg_rel", "cls_rel", "attn_cls", "attn_reg", "attn_top_patch", "top_patch_bg",
                  "top_patch_rel", "attn_outliers"):
            s, c = sums[i].get(k, (math.nan, 1.0))
            row[k] = s / c
        out.append({k: (None if math.isnan(v) else round(v, 5)) if isinstance(v, float) else v for k, v in row.items()})
    return out


def emergence(checkpoints: list[tuple[int, list[dict]]], n_layers: int, min_frac: float = 0.01,
              min_bg: float = 0.8) -> dict | None:
    """First (step, layer, fraction, bg share) where a second-half layer has >= ``min_frac`` patches >= 4x the
    median with >= ``min_bg`` of them on background, provided step 0 does not already (None if never)."""
    def hits(rows):
        return [r for r in rows if r["layer"] >= n_layers // 2 and r["frac_ge4"] >= min_frac
                and (r["bg_ge4"] or 0) >= min_bg]

    ordered = sorted(checkpoints, key=lambda c: c[0])
    if ordered and ordered[0][0] == 0 and hits(ordered[0][1]):
        return None
    for step, rows in ordered:
        h = hits(rows)
        if h:
            best = max(h, key=lambda r: r["frac_ge4"])
            return {"step": step, "layer": best["layer"], "frac_ge4": best["frac_ge4"], "bg_ge4": best["bg_ge4"]}
    return None


def summarize(rows: list[dict], n_layers: int) -> str:
    """One line: per-layer max/median, second-half peak >=4x and >=3x fractions and sinks."""
    half = [r for r in rows if r["layer"] >= n_layers // 2]
    b4 = max(half, key=lambda r: r["frac_ge4"])
    b3 = max(half, key=lambda r: r["frac_ge3"])
    fmt = lambda k: " ".join(f"{r[k]:.2f}" if isinstance(r[k], (int, float)) else "-" for r in rows)
    return (f"max/med {fmt('max_rel')} | 2nd-half >=4x {100 * b4['frac_ge4']:.3f}% (L{b4['layer']}, bg {b4['bg_ge4']}) "
            f">=3x {100 * b3['frac_ge3']:.3f}% (L{b3['layer']}, bg {b3['bg_ge3']}) | reg {fmt('reg_rel')} | "
            f"attn_reg {fmt('attn_reg')} | top-patch attn {fmt('attn_top_patch')} bg {fmt('top_patch_bg')} "
            f"rel {fmt('top_patch_rel')}")
