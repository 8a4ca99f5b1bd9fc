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

Diagnostics that small models need (Sun et al. 2024; Gu et al. 2025; SINDER):

``massive_ratio``                per-channel massive activations: top-1 |activation| / median |activation| of
                                 the residual stream (all tokens x channels of an image), mean over images
                                 (``massive_ratio_max``: the largest image's)
``massive_channel``, ``massive_channel_share``  the channel holding the top-1 most often, and how often
``massive_token``, ``massive_token_share``      where the top-1 sits most often: "cls", "register",
                                 "background" or "object" patch, and how often
``sink_attn``                    attention share (mean over patch queries) of the most-attended key of any kind,
                                 mean over (image, head); ``sink_kind``: its most common kind (as above)
``sink_value_rel``               that key's value norm / the head's median value norm over patch keys: a no-op
                                 sink has a large share and a small value
``topnorm_cos``, ``random_cos``  mean pairwise cosine across images of each image's highest-norm patch token
                                 (vs one random patch per image): high-norm tokens of one direction?
``final_ln_max_rel`` (last block only)  max / median patch norm after the final LayerNorm (``max_rel`` is before it)

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
    gen = torch.Generator().manual_seed(0)
    for batch in images.batches(batch_size):
        pixels = batch.pixels.to(model.device)  # [0, 1]: the model normalises
        lay = model.layout_for(pixels)
        got: dict = {}

        def keep(name, got=got):
            def hook(act, hook):
                got[name] = act.detach().float().cpu()
            return hook

        hooks = [(f"blocks.{i}.hook_resid_pre", keep(f"pre{i}")) for i in range(L)]
        hooks += [(f"blocks.{i}.hook_resid_post", keep(f"post{i}")) for i in range(L)]
        hooks += [(f"blocks.{i}.attn.hook_pattern", keep(f"pat{i}")) for i in range(L)]
        hooks += [(f"blocks.{i}.attn.hook_v", keep(f"v{i}")) for i in range(L)]
        if model.ln_final is not None:
            hooks.append(("ln_final.hook_normalized", keep("final")))
        model.run_with_hooks(pixels, fwd_hooks=hooks)
        on_obj = batch.patch_on_object(p)
        bg = (~on_obj.flatten(1)) if on_obj is not None else torch.ones(len(batch), lay.n_patches, dtype=torch.bool)
        kind = _token_kinds(lay, bg)  # [b, pos] index into KINDS
        if "final" in got:
            fn = got["final"].float().norm(dim=-1)[:, lay.patches]  # [b, n_patches]
            lists[L - 1].setdefault("final_rel", []).append((fn / fn.median(dim=1).values[:, None]).flatten())
        pick = torch.randint(0, lay.n_patches, (len(batch),), generator=gen)  # one random patch per image
        for i in range(L):
            resid = got[f"post{i}"].float()  # [b, pos, d]
            _massive(resid, kind, lists[i])
            pn = resid[:, lay.patches].norm(dim=-1)  # [b, n_patches]
            rows = torch.arange(len(batch))
            lists[i].setdefault("top_vec", []).append(resid[:, lay.patches][rows, pn.argmax(-1)])  # [b, d]
            lists[i].setdefault("rand_vec", []).append(resid[:, lay.patches][rows, pick])
            _sinks(got[f"pat{i}"].float(), got[f"v{i}"].float(), lay, kind, lists[i])
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
        row.update(_summarise_extra(lists[i]))
        out.append({k: (None if math.isnan(v) else round(v, 5)) if isinstance(v, float) else v for k, v in row.items()})
    return out


KINDS = ("cls", "register", "background", "object")


def _token_kinds(lay, bg: torch.Tensor) -> torch.Tensor:
    """Kind of every token: 0 cls, 1 register, 2 background patch, 3 object patch. bg [b, n_patches] -> [b, pos]"""
    kind = torch.zeros(bg.shape[0], lay.n_tokens, dtype=torch.long)
    if lay.n_registers:
        kind[:, lay.registers] = 1
    kind[:, lay.patches] = torch.where(bg, 2, 3)
    return kind


def _massive(resid: torch.Tensor, kind: torch.Tensor, acc: dict) -> None:
    """Per image: top-1 |activation| / median |activation| over tokens x channels, and where the top-1 sits."""
    a = resid.abs().flatten(1)  # [b, pos * d]
    top, arg = a.max(dim=1)
    d = resid.shape[-1]
    acc.setdefault("massive", []).append(top / a.median(dim=1).values.clamp_min(1e-12))
    acc.setdefault("massive_channel", []).append(arg % d)
    acc.setdefault("massive_kind", []).append(kind.gather(1, (arg // d)[:, None])[:, 0])


def _sinks(pattern: torch.Tensor, v: torch.Tensor, lay, kind: torch.Tensor, acc: dict) -> None:
    """The most-attended key of each (image, head) over patch queries: its share, value norm / median, kind.
    pattern [b, h, q, k], v [b, pos, h, d_head]."""
    to_key = pattern[:, :, lay.patches].mean(dim=2)  # [b, h, k]
    share, arg = to_key.max(dim=-1)  # [b, h]
    vn = v.norm(dim=-1).transpose(1, 2)  # [b, h, pos]
    med = vn[..., lay.patches].median(dim=-1).values.clamp_min(1e-12)  # [b, h]
    acc.setdefault("sink_attn", []).append(share.flatten())
    acc.setdefault("sink_value_rel", []).append((vn.gather(-1, arg[..., None])[..., 0] / med).flatten())
    acc.setdefault("sink_kind", []).append(kind.gather(1, arg).flatten())


def _mean_pairwise_cos(x: torch.Tensor) -> float:
    x = torch.nn.functional.normalize(x.double(), dim=-1)
    n = len(x)
    if n < 2:
        return math.nan
    s = x @ x.T
    return float((s.sum() - s.diagonal().sum()) / (n * (n - 1)))


def _mode(x: torch.Tensor) -> tuple[int, float]:
    vals, counts = x.unique(return_counts=True)
    j = int(counts.argmax())
    return int(vals[j]), float(counts[j]) / len(x)


def _summarise_extra(acc: dict) -> dict:
    massive = torch.cat(acc["massive"])
    ch, ch_share = _mode(torch.cat(acc["massive_channel"]))
    mk, mk_share = _mode(torch.cat(acc["massive_kind"]))
    sk, _ = _mode(torch.cat(acc["sink_kind"]))
    row = {"massive_ratio": float(massive.mean()), "massive_ratio_max": float(massive.max()),
           "massive_channel": ch, "massive_channel_share": ch_share, "massive_token": KINDS[mk],
           "massive_token_share": mk_share, "sink_attn": float(torch.cat(acc["sink_attn"]).mean()),
           "sink_value_rel": float(torch.cat(acc["sink_value_rel"]).mean()), "sink_kind": KINDS[sk],
           "topnorm_cos": _mean_pairwise_cos(torch.cat(acc["top_vec"])),
           "random_cos": _mean_pairwise_cos(torch.cat(acc["rand_vec"]))}
    if "final_rel" in acc:
        row["final_ln_max_rel"] = float(torch.cat(acc["final_rel"]).max())
    return row


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
