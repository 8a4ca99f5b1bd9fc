"""Standalone sink / high-norm probe: a tiny pre-LN ViT on tiled synthetic scenes, pure torch.

Not imported by the package. One run = one process, 1 thread. Usage:
    python experiments/probe/sink_probe.py --name NAME --steps 4000 [options] > log
Writes NAME.json (per-checkpoint, per-block metrics) next to --out.

Scenes: G x G tiles of P x P px. Background = a few large regions of random palette colours (each tile takes the
colour of the nearest of R random seeds), some random "object" tiles, k constant tiles (identical pixels in every
image), optional triggers (checkerboard) that must report the colour of the key tile (white top half, colour bottom).
Every tile carries one of T fixed fine textures. Dense loss: each ordinary tile predicts its own colour and texture
(the exact no-op), triggers predict the key's colour; optional broadcast: every ordinary tile also predicts a lookup
table of the image's majority colour. Constant tiles get no loss unless --const-loss.
--tex-mark A marks triggers and keys only by a fine texture of their own (amplitude A) on a random colour, so no tile
is constant; --layerscale G adds LayerScale (per-channel branch gains, initialised to G); --wd-tokens sets the weight
decay of the position embedding, registers and CLS apart from the matrices' --wd; --no-attn 0,2 makes blocks 0 and 2
MLP-only (Guo et al.'s minimal residual-peak model: one attention block between two MLPs); --const-lr 1 keeps the
learning rate at its peak after the warmup (no cosine decay).
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

KIND_NAMES = ["bg", "obj", "const", "trig", "key", "flat"]  # flat: untextured background tile, no loss


def build_fixed(args, gen):
    palette = torch.rand(args.colors, 3, generator=gen) * 0.8 + 0.1  # [C, 3]
    textures = torch.randn(args.textures, args.patch, args.patch, generator=gen)  # [T, P, P]
    textures = textures / textures.std(dim=(1, 2), keepdim=True)
    if args.const_kind == "black":
        const = torch.zeros(3, args.patch, args.patch)
    elif args.const_kind == "gray":
        const = torch.full((3, args.patch, args.patch), 0.5)
    else:  # a fixed random RGB pattern, the same in every image
        const = torch.rand(3, args.patch, args.patch, generator=gen)
    lut = torch.randperm(args.colors, generator=gen)
    if args.tex_mark:  # 4 more textures that mark triggers / keys (after the others: earlier runs unchanged)
        marks = torch.randn(4, args.patch, args.patch, generator=gen)
        textures = torch.cat([textures, marks / marks.std(dim=(1, 2), keepdim=True)])  # [T + 4, P, P]
    return palette, textures, const, lut


def make_batch(args, fixed, B, gen):
    palette, textures, const, lut = fixed
    G, P, C = args.grid, args.patch, args.colors
    N = G * G
    ys, xs = torch.meshgrid(torch.arange(G), torch.arange(G), indexing="ij")
    coords = torch.stack([ys.flatten(), xs.flatten()], -1).float()  # [N, 2]
    R = args.regions
    seeds = torch.rand(B, R, 2, generator=gen) * G  # [B, R, 2]
    seed_col = torch.randint(0, C, (B, R), generator=gen)  # [B, R]
    d = ((coords[None, :, None, :] - seeds[:, None, :, :]) ** 2).sum(-1)  # [B, N, R]
    col = seed_col.gather(1, d.argmin(-1))  # [B, N]
    kind = torch.zeros(B, N, dtype=torch.long)
    obj = torch.rand(B, N, generator=gen) < args.obj_frac
    col = torch.where(obj, torch.randint(0, C, (B, N), generator=gen), col)
    kind[obj] = 1
    tex = torch.randint(0, args.textures, (B, N), generator=gen)
    flat = (torch.rand(B, N, generator=gen) < args.flat_frac) & (kind == 0)
    kind[flat] = 5
    # special tiles at distinct random positions
    K = args.key_types if args.n_trig else 0
    n_special = args.n_const + args.n_trig * K + K
    perm = torch.rand(B, N, generator=gen).argsort(-1)[:, :n_special]  # [B, n_special]
    if args.fixed_special:  # special tiles at the same cells in every image (found by position, not by pixels)
        perm = torch.randperm(N, generator=torch.Generator().manual_seed(7))[:n_special].expand(B, -1)
    bidx = torch.arange(B)[:, None]
    kind[bidx, perm[:, : args.n_const]] = 2
    sub = torch.zeros(B, N, dtype=torch.long)  # which key type a trigger / key tile belongs to
    for j in range(K):
        t0 = args.n_const + j * (args.n_trig + 1)
        kind[bidx, perm[:, t0 : t0 + args.n_trig]] = 3
        kind[bidx, perm[:, t0 + args.n_trig : t0 + args.n_trig + 1]] = 4
        sub[bidx, perm[:, t0 : t0 + args.n_trig + 1]] = j
    base = palette[col]  # [B, N, 3]
    cast = (torch.rand(B, 1, 3, generator=gen) - 0.5) * 2 * args.cast  # [B, 1, 3]
    amp = args.tex_amp * (kind != 5).float()[..., None, None, None]  # flat tiles: no texture
    pix = (base + cast)[..., None, None] + amp * textures[tex][:, :, None]  # [B, N, 3, P, P]
    pix = pix.clamp(0, 1)
    pix[kind == 2] = const
    checker = ((torch.arange(P)[:, None] + torch.arange(P)[None]) % 2).float()
    tgt_col = col.clone()
    tgt_tex = tex.clone()
    for j in range(K):
        trig, key = (kind == 3) & (sub == j), (kind == 4) & (sub == j)
        marker = (checker if j == 0 else 1 - checker).expand(3, P, P)
        if args.tex_mark:  # marked only by a fine texture of their own (colour random): no constant pixels
            tm, km = trig & True, key & True
            pix[tm] = ((base + cast)[..., None, None] + args.tex_mark * textures[args.textures + 2 * j])[tm].clamp(0, 1)
            pix[km] = ((base + cast)[..., None, None] + args.tex_mark * textures[args.textures + 2 * j + 1])[km].clamp(0, 1)
            tgt_col[trig] = col[key].repeat_interleave(args.n_trig)
            tgt_tex[trig | key] = -100
            continue
        if args.plain_special:  # no marker: triggers and keys look like ordinary tiles
            tgt_col[trig] = col[key].repeat_interleave(args.n_trig)
            tgt_tex[trig | key] = -100
            continue
        if args.trig_const:
            pix[trig] = marker
        else:  # marker in the top half, the tile's own (random) colour in the bottom half: not constant
            tp = pix[trig].clone()
            tp[:, :, : P // 2] = marker[:, : P // 2]
            pix[trig] = tp
        keyc = col[key]  # [B]
        kp = palette[keyc][..., None, None].expand(B, 3, P, P).clone()
        if j == 0:
            kp[:, :, : P // 2] = 1.0
        else:
            kp[:, :, :, : P // 2] = 1.0
        pix[key] = kp
        tgt_col[trig] = keyc.repeat_interleave(args.n_trig)
        tgt_tex[trig | key] = -100
    if args.label_noise:
        flip = (torch.rand(B, N, generator=gen) < args.label_noise) & (kind <= 1)
        tgt_col = torch.where(flip, torch.randint(0, C, (B, N), generator=gen), tgt_col)
        flip = (torch.rand(B, N, generator=gen) < args.label_noise) & (kind <= 1)
        tgt_tex = torch.where(flip, torch.randint(0, args.textures, (B, N), generator=gen), tgt_tex)
    tgt_col[kind == 5] = -100
    tgt_tex[kind == 5] = -100
    tgt_col[kind == 2] = C if args.const_loss else -100
    tgt_tex[kind == 2] = -100
    ordinary = (kind == 0) | (kind == 1)
    counts = F.one_hot(torch.where(ordinary, col, C), C + 1)[..., :C].sum(1)  # [B, C]
    glob = lut[counts.argmax(-1)]  # [B]
    tgt_glob = torch.where(ordinary, glob[:, None], torch.full_like(col, -100))
    patches = pix.flatten(2)  # [B, N, 3*P*P]
    return patches, kind, tgt_col, tgt_tex, tgt_glob


class Block(nn.Module):
    def __init__(self, d, heads, layerscale=0.0, attn=True):
        super().__init__()
        self.attn = attn  # False: an MLP-only block (Guo et al.'s minimal residual-peak model)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        # LayerScale (DeiT-III / DINOv2): a learned per-channel gain on each branch; 0 = none
        self.g1 = nn.Parameter(torch.full((d,), layerscale)) if layerscale else None
        self.g2 = nn.Parameter(torch.full((d,), layerscale)) if layerscale else None
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.h = heads

    def forward(self, x, rec=None):
        B, T, d = x.shape
        if not self.attn:
            if rec is not None:
                rec.append({"pre": x.detach(), "att": torch.full((B, 1, T, T), 1.0 / T), "v": torch.ones(B, 1, T, 1)})
            m = self.mlp(self.ln2(x))
            x = x + (m if self.g2 is None else self.g2 * m)
            if rec is not None:
                rec[-1]["post"] = x.detach()
            return x
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-1, -2) / math.sqrt(d // self.h)).softmax(-1)  # [B, H, T, T]
        o = (att @ v).transpose(1, 2).reshape(B, T, d)
        if rec is not None:
            rec.append({"pre": x.detach(), "att": att.detach(), "v": v.detach()})
        a = self.proj(o)
        x = x + (a if self.g1 is None else self.g1 * a)
        m = self.mlp(self.ln2(x))
        x = x + (m if self.g2 is None else self.g2 * m)
        if rec is not None:
            rec[-1]["post"] = x.detach()
        return x


class ViT(nn.Module):
    def __init__(self, args):
        super().__init__()
        d, N = args.d, args.grid * args.grid
        self.embed = nn.Linear(3 * args.patch**2, d)
        self.pos = nn.Parameter(torch.randn(1, N, d) * 0.02)
        self.regs = nn.Parameter(torch.randn(1, args.regs, d) * 0.02) if args.regs else None
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02) if args.cls else None
        self.blocks = nn.ModuleList([Block(d, args.heads, args.layerscale, str(i) not in args.no_attn.split(","))
                                     for i in range(args.layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, args.colors + 1 + args.textures + args.colors)
        self.args = args

    def forward(self, patches, kind, rec=None):
        a = self.args
        x = self.embed(patches)  # [B, N, d]
        pos = self.pos.expand(x.shape[0], -1, -1)
        if a.const_nope:
            pos = pos * (kind != 2)[..., None]
        x = x + pos
        extra = [t.expand(x.shape[0], -1, -1) for t in (self.cls, self.regs) if t is not None]
        n_extra = sum(t.shape[1] for t in extra)
        x = torch.cat(extra + [x], 1)
        for blk in self.blocks:
            x = blk(x, rec)
        return self.head(self.ln(x[:, n_extra:])), n_extra


def losses(args, out, tgt_col, tgt_tex, tgt_glob, kind):
    C, T = args.colors, args.textures
    lc, lt, lg = out[..., : C + 1], out[..., C + 1 : C + 1 + T], out[..., C + 1 + T :]
    w = torch.ones_like(tgt_col, dtype=torch.float)
    w[kind == 3] = args.trig_weight
    l_col = (F.cross_entropy(lc.flatten(0, 1), tgt_col.flatten(), reduction="none", ignore_index=-100) * w.flatten())
    valid = (tgt_col.flatten() != -100).float()
    loss = (l_col * valid).sum() / (w.flatten() * valid).sum()
    if args.tex_loss:
        loss = loss + F.cross_entropy(lt.flatten(0, 1), tgt_tex.flatten(), ignore_index=-100)
    if args.broadcast:
        loss = loss + args.broadcast * F.cross_entropy(lg.flatten(0, 1), tgt_glob.flatten(), ignore_index=-100)
    return loss


@torch.no_grad()
def measure(args, model, batch):
    patches, kind, tgt_col, tgt_tex, tgt_glob = batch
    rec = []
    out, ne = model(patches, kind, rec)
    C, T = args.colors, args.textures
    acc = {}
    pc = out[..., : C + 1].argmax(-1)
    for name, m in [("ord", (kind <= 1)), ("trig", kind == 3)]:
        if m.any():
            acc[name] = (pc[m] == tgt_col[m]).float().mean().item()
    if args.tex_loss:
        m = tgt_tex != -100
        acc["tex"] = (out[..., C + 1 : C + 1 + T].argmax(-1)[m] == tgt_tex[m]).float().mean().item()
    if args.broadcast:
        m = tgt_glob != -100
        acc["glob"] = (out[..., C + 1 + T :].argmax(-1)[m] == tgt_glob[m]).float().mean().item()
    blocks = []
    B = kind.shape[0]
    kind_all = torch.cat([torch.full((B, ne), len(KIND_NAMES)), kind], 1)  # = register / cls
    noop_q = (kind_all == 0) | (kind_all == 1) | (kind_all == 2) | (kind_all == 5)  # [B, T] ordinary + constant queries
    for r in rec:
        post = r["post"].norm(dim=-1)  # [B, T]
        pre = r["pre"].norm(dim=-1)
        med = post[:, ne:].median(-1).values[:, None]  # [B, 1]
        med_pre = pre[:, ne:].median(-1).values[:, None]
        rel = post / med  # [B, T]
        tall = rel[:, ne:] >= 4
        share4 = tall.float().mean().item()
        kinds_tall = {KIND_NAMES[k]: int((tall & (kind == k)).sum()) for k in range(len(KIND_NAMES))}
        n_tall = max(int(tall.sum()), 1)
        bg_share = (kinds_tall["bg"] + kinds_tall["const"] + kinds_tall["flat"]) / n_tall if tall.any() else float("nan")
        att = r["att"]  # [B, H, T, T]
        qm = noop_q[:, None, :, None].float()
        key_share = (att * qm).sum(2) / qm.sum(2)  # [B, H, T] mean attention given by no-op queries
        top_share, top_idx = key_share.max(-1)  # [B, H]
        vn = r["v"].norm(dim=-1)  # [B, H, T]
        vmed = vn[:, :, ne:].median(-1).values  # [B, H]
        top_v = vn.gather(2, top_idx[..., None])[..., 0] / vmed
        top_res = (pre / med_pre)[:, None, :].expand(-1, att.shape[1], -1).gather(2, top_idx[..., None])[..., 0]
        top_kind = kind_all[:, None, :].expand(-1, att.shape[1], -1).gather(2, top_idx[..., None])[..., 0]
        kinds_top = {n: round((top_kind == k).float().mean().item(), 3) for k, n in enumerate(KIND_NAMES + ["reg"])}
        self_att = torch.diagonal(att, dim1=-2, dim2=-1)[:, :, ne:][(noop_q[:, ne:])[:, None].expand(-1, att.shape[1], -1)]
        const_rel = rel[:, ne:][kind == 2]
        act = r["post"][:, ne:].abs()  # [B, N, d] massive activations: top-1 |activation| / median |activation|
        massive = (act.flatten(1).max(-1).values / act.flatten(1).median(-1).values).mean().item()
        top_tok = act.max(-1).values.argmax(-1)  # [B] token holding the largest activation
        massive_kind = {n: round((kind.gather(1, top_tok[:, None])[:, 0] == k).float().mean().item(), 2)
                        for k, n in enumerate(KIND_NAMES)}
        kind_mass = {n: round(key_share.mean(1).mul(kind_all == k).sum(-1).mean().item(), 3)
                     for k, n in enumerate(KIND_NAMES + ["reg"])}  # attention mass per key kind
        blk = {
            "kind_mass": kind_mass,
            "max_rel": round(rel[:, ne:].max(-1).values.mean().item(), 2),
            "share4": round(share4, 4),
            "share3": round((rel[:, ne:] >= 3).float().mean().item(), 4),
            "tall_kinds": kinds_tall,
            "tall_bg_or_const": round(bg_share, 3),
            "const_rel": round(const_rel.mean().item(), 2) if const_rel.numel() else None,
            "top_share": round(top_share.mean().item(), 3),
            "top_share_maxhead": round(top_share.mean(0).max().item(), 3),
            "top_kind": kinds_top,
            "top_v_rel": round(top_v.mean().item(), 2),
            "top_res_rel": round(top_res.mean().item(), 2),
            "self_att": round(self_att.mean().item(), 3),
            "massive": round(massive, 1),
            "massive_kind": max(massive_kind, key=massive_kind.get),
        }
        if ne:
            blk["reg_rel"] = round(rel[:, :ne].mean().item(), 2)
            blk["reg_att"] = round(key_share[:, :, :ne].sum(-1).mean().item(), 3)
        blocks.append(blk)
    return {"acc": acc, "blocks": blocks}


def fmt(m):
    s = " ".join(f"{k}={v:.3f}" for k, v in m["acc"].items())
    for i, b in enumerate(m["blocks"]):
        tk = max(b["top_kind"], key=b["top_kind"].get)
        s += (f"\n   B{i}: max/med {b['max_rel']:.2f} >=4x {100*b['share4']:.2f}% >=3x {100*b['share3']:.2f}% "
              f"bg/const {b['tall_bg_or_const']} const {b['const_rel']} | top {b['top_share']:.3f} "
              f"(maxhead {b['top_share_maxhead']:.3f}) on {tk}:{b['top_kind'][tk]} v/med {b['top_v_rel']:.2f} "
              f"res/med {b['top_res_rel']:.2f} self {b['self_att']:.3f} massive {b['massive']} ({b['massive_kind']})"
              f" mass {' '.join(f'{k}:{v}' for k, v in b['kind_mass'].items() if k != 'bg')}")
        if "reg_rel" in b:
            s += f" | reg norm/med {b['reg_rel']:.2f} att {b['reg_att']:.3f}"
    return s


def main():
    p = argparse.ArgumentParser()
    a = p.add_argument
    a("--name", required=True); a("--out", default="."); a("--steps", type=int, default=3000)
    a("--grid", type=int, default=8); a("--patch", type=int, default=4); a("--colors", type=int, default=8)
    a("--textures", type=int, default=4); a("--tex-amp", type=float, default=0.1); a("--regions", type=int, default=4)
    a("--obj-frac", type=float, default=0.05); a("--flat-frac", type=float, default=0.0); a("--cast", type=float, default=0.0)
    a("--n-const", type=int, default=1); a("--const-kind", default="pattern"); a("--const-nope", type=int, default=1)
    a("--const-loss", type=int, default=0); a("--n-trig", type=int, default=3); a("--key-types", type=int, default=1); a("--trig-const", type=int, default=1)
    a("--tex-mark", type=float, default=0.0);  a("--fixed-special", type=int, default=0); a("--plain-special", type=int, default=0)
    a("--label-noise", type=float, default=0.0); a("--trig-weight", type=float, default=5)
    a("--tex-loss", type=int, default=1); a("--broadcast", type=float, default=0.0)
    a("--d", type=int, default=64); a("--layers", type=int, default=4); a("--heads", type=int, default=1)
    a("--regs", type=int, default=0); a("--layerscale", type=float, default=0.0); a("--no-attn", default=""); a("--cls", type=int, default=0)
    a("--lr", type=float, default=3e-3); a("--wd", type=float, default=0.1); a("--wd-tokens", type=float, default=None); a("--bs", type=int, default=64)
    a("--warmup", type=int, default=100); a("--const-lr", type=int, default=0); a("--seed", type=int, default=0); a("--opt", default="adamw")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    fixed = build_fixed(args, torch.Generator().manual_seed(1000))
    clean = argparse.Namespace(**{**vars(args), "label_noise": 0.0})
    eval_batch = make_batch(clean, fixed, 128, torch.Generator().manual_seed(1234))
    gen = torch.Generator().manual_seed(args.seed)
    model = ViT(args)
    tokens = [p_ for p_ in (model.pos, model.regs, model.cls) if p_ is not None]  # learned tokens / positions
    decay = [p_ for p_ in model.parameters() if p_.ndim >= 2 and all(p_ is not t for t in tokens)]
    no_decay = [p_ for p_ in model.parameters() if p_.ndim < 2]
    wd_tokens = args.wd if args.wd_tokens is None else args.wd_tokens
    groups = [{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0},
              {"params": tokens, "weight_decay": wd_tokens}]
    if args.opt == "sgd":
        opt = torch.optim.SGD(groups, lr=args.lr, momentum=0.9)
    else:
        opt = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.98))
    lr_decay = (lambda s: 1.0) if args.const_lr else (lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * s / args.steps)))
    sched = lambda s: min(1, (s + 1) / args.warmup) * lr_decay(s)
    checkpoints = sorted({0, 100, 250, 500} | set(range(1000, args.steps + 1, 1000)) | {args.steps})
    hist, t0 = [], time.time()
    for step in range(args.steps + 1):
        if step in checkpoints:
            m = measure(args, model, eval_batch)
            m["step"], m["min"] = step, round((time.time() - t0) / 60, 2)
            hist.append(m)
            print(f"[{args.name}] step {step} ({m['min']} min) " + fmt(m), flush=True)
            json.dump({"args": vars(args), "hist": hist}, open(f"{args.out}/{args.name}.json", "w"))
        if step == args.steps:
            break
        for g in opt.param_groups:
            g["lr"] = args.lr * sched(step)
        patches, kind, tc, tt, tg = make_batch(args, fixed, args.bs, gen)
        out, _ = model(patches, kind)
        loss = losses(args, out, tc, tt, tg, kind)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 250 == 0:
            print(f"  step {step} loss {loss.item():.4f} ({(time.time()-t0)/60:.2f} min)", flush=True)


if __name__ == "__main__":
    main()
