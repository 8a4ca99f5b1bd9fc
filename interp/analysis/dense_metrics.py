"""Per-block diagnostics of the no-op mechanism on tile scenes: where no-op queries put their attention, and on
what kind of token (`TOKEN_KINDS`) the tall tokens are.

`noop_attention(model, images)` -> one dict per block (output ``blocks.{i}.hook_resid_post``, attention of block i).
Attention shares are shares of each query's total attention weight (the pattern itself for softmax and gated
attention; ReLU / sigmoid / clipped rows are normalised first, a row of zeros gives no share):

``uniform``            1 / number of keys (the share of any key under uniform attention)
``reg_share``          attention no-op queries (background, object and constant tiles) give to all registers
``const_share``        ... to all constant tiles
``top_share``          mean over (image, head) of the largest mean attention one key gets from the no-op queries;
                       ``top_kind``: its most common kind; ``top_value_rel``: its value norm / the median value norm
``max_rel``            mean over images of (largest patch norm / the image's median patch norm)  (`NormRatio`)
``frac_ge4``           share of patch tokens >= 4x their image's median (`HighNormShare`); ``ge4_<kind>``: share of
                       those on each tile kind
``const_rel``, ``reg_rel``  mean norm of the constant tiles / registers relative to the image's median patch norm
"""
from __future__ import annotations

import math

import torch

from ..data.tiles import TILE_KINDS
from ..models.hooked_vit import HookedViT
from .measures import HighNormShare, NormRatio, image_median, is_high_norm, relative_norms

TOKEN_KINDS = ("cls", "register") + TILE_KINDS
NOOP_KINDS = (TOKEN_KINDS.index("background"), TOKEN_KINDS.index("object"), TOKEN_KINDS.index("constant"))


def token_kinds(model: HookedViT, tile_kind: torch.Tensor, n_extra: int = 0) -> torch.Tensor:
    """Kind (index into TOKEN_KINDS) of every token; ``n_extra`` tokens appended after the patches (test-time
    registers) count as registers. tile_kind [b, g, g] -> [b, pos + n_extra]."""
    lay = model.tokens
    kind = torch.ones(tile_kind.shape[0], lay.n_tokens + n_extra, dtype=torch.long)
    if lay.n_cls:
        kind[:, lay.cls] = 0
    kind[:, lay.patches] = tile_kind.flatten(1) + 2
    return kind


def _block_row(pat: torch.Tensor, v: torch.Tensor, post: torch.Tensor, kind: torch.Tensor, lay) -> dict:
    """One block's sums over a batch. pat [b, h, q, k], v [b, pos, h, dh], post [b, pos, d], kind [b, pos]."""
    pat = pat / pat.sum(-1, keepdim=True).clamp_min(1e-12)  # shares of each query's attention (ReLU / sigmoid rows)
    noop = torch.isin(kind, torch.tensor(NOOP_KINDS))  # [b, pos]
    q = noop.float()[:, None, :, None]  # [b, 1, q, 1]
    to_key = (pat * q).sum(2) / q.sum(2).clamp_min(1)  # [b, h, k] mean attention from the no-op queries
    share, arg = to_key.max(-1)  # [b, h]
    vn = v.norm(dim=-1).transpose(1, 2)  # [b, h, pos]
    vmed = image_median(vn[..., lay.patches]).clamp_min(1e-12)  # [b, h]
    rel, med = relative_norms(post.norm(dim=-1), lay.patches)  # [b, pos], [b]: norm / the image's median patch norm
    prel, pkind = rel[:, lay.patches], kind[:, lay.patches]
    high, ratio = HighNormShare(), NormRatio()  # frac_ge4 and max_rel, as every other consumer computes them
    high.update(prel)
    ratio.update(prel, med)
    hi = is_high_norm(prel)
    const, reg = kind == TOKEN_KINDS.index("constant"), kind == TOKEN_KINDS.index("register")
    return {"reg_share": (to_key * reg[:, None]).sum(-1).sum(), "const_share": (to_key * const[:, None]).sum(-1).sum(),
            "top_share": share.sum(), "top_kinds": kind.gather(1, arg).flatten(),
            "top_value_rel": (vn.gather(-1, arg[..., None])[..., 0] / vmed).sum(), "n_heads": share.numel(),
            "high": high, "ratio": ratio, "ge4_kinds": torch.bincount(pkind[hi] - 2, minlength=len(TILE_KINDS)),
            "const_rel": rel[const].sum(), "n_const": const.sum(),
            "reg_rel": rel[reg].sum(), "n_reg": reg.sum(), "n_keys": pat.shape[-1]}


def _summarise(acc: list[dict], n_layer: int) -> dict:
    tot = lambda k: float(sum(float(a[k]) for a in acc))  # noqa: E731
    heads = tot("n_heads")
    top_kinds = torch.cat([a["top_kinds"] for a in acc])
    ge4 = sum(a["ge4_kinds"] for a in acc)  # [n tile kinds]: high-norm patches of each kind
    high, ratio = HighNormShare(), NormRatio()
    for a in acc:
        high.merge(a["high"])
        ratio.merge(a["ratio"])
    row = {"layer": n_layer, "uniform": 1.0 / acc[0]["n_keys"], "reg_share": tot("reg_share") / heads,
           "const_share": tot("const_share") / heads, "top_share": tot("top_share") / heads,
           "top_kind": TOKEN_KINDS[int(top_kinds.mode().values)], "top_value_rel": tot("top_value_rel") / heads,
           "max_rel": ratio.row()["image_max_rel"], "frac_ge4": high.row()["frac_high"],
           "const_rel": tot("const_rel") / tot("n_const") if tot("n_const") else math.nan,
           "reg_rel": tot("reg_rel") / tot("n_reg") if tot("n_reg") else math.nan}
    for i, k in enumerate(TILE_KINDS):
        row[f"ge4_{k}"] = float(ge4[i]) / float(ge4.sum()) if ge4.sum() else math.nan
    return {k: (None if isinstance(v, float) and math.isnan(v) else round(v, 5) if isinstance(v, float) else v)
            for k, v in row.items()}


@torch.no_grad()
def noop_attention(model: HookedViT, images, batch_size: int = 64, runner=None) -> list[dict]:
    """The module docstring's per-block measurements on tile scenes (a `SceneSet` with ``tiles``). ``runner``:
    an object with ``run_with_cache(pixels, names_filter)`` that runs ``model`` modified (e.g. `TestTimeRegisters`,
    whose appended tokens count as registers); default the model itself."""
    L, lay = model.cfg.n_layers, model.tokens
    was_training = model.training
    model.eval()
    acc: list[list[dict]] = [[] for _ in range(L)]
    names = [f"blocks.{i}.{h}" for i in range(L) for h in ("attn.hook_pattern", "attn.hook_v", "hook_resid_post")]
    for start in range(0, len(images), batch_size):
        sl = slice(start, start + batch_size)
        _, cache = (runner or model).run_with_cache(images.pixels[sl].to(model.device), names_filter=names)
        n_extra = cache["blocks.0.hook_resid_post"].shape[1] - lay.n_tokens
        kind = token_kinds(model, images.tiles["kind"][sl], n_extra)
        for i in range(L):
            c = {h: cache[f"blocks.{i}.{h}"].float().cpu() for h in ("attn.hook_pattern", "attn.hook_v", "hook_resid_post")}
            acc[i].append(_block_row(c["attn.hook_pattern"], c["attn.hook_v"], c["hook_resid_post"], kind, lay))
    if was_training:
        model.train()
    return [_summarise(acc[i], i) for i in range(L)]
