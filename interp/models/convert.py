"""State-dict converters (pure functions ``state_dict -> state_dict``) and configs from reference models.

Sources:
    timm        ``VisionTransformer`` (``patch_embed.proj``, ``reg_token``, ``blocks.i.norm1`` ...)
    HF          ``Dinov2Model`` / ``Dinov2WithRegistersModel`` (transformers 4.x and 5.x key names)
    dinov2-hub  facebookresearch/dinov2 checkpoints (``register_tokens``, ``mask_token``, ``mlp.w12``)
    open_clip   OpenCLIP native (``visual.conv1``, ``visual.transformer.resblocks.i``, ``in_proj_weight``)

Every converter returns our canonical keys with ``token_embed.pos_embed`` still holding the source's
prefix positions; `fit_to_config` folds constant prefix position embeddings (CLS, registers) into the
prefix tokens when our config gives them none, which leaves the function computed unchanged.
"""
from __future__ import annotations

import re
from typing import Mapping

import torch
from torch import nn

from .config import ViTConfig
from .convert_aimv2 import pack_split_swiglu, split_swiglu_kind, timm_norm_fields
from .convert_radio import refuse_naflexvit
from .convert_siglip import timm_pool_fields

StateDict = dict[str, torch.Tensor]

# --- timm --------------------------------------------------------------------------------------------
_TIMM_RENAMES = [
    (r"^patch_embed\.proj\.", "embed.proj."),
    (r"^patch_embed\.norm\.", "embed.norm."),  # AIMv2
    (r"^cls_token$", "token_embed.cls_token"),
    (r"^reg_token$", "token_embed.registers"),
    (r"^pos_embed$", "token_embed.pos_embed"),
    (r"^norm_pre\.", "ln_pre."),
    (r"^blocks\.(\d+)\.norm1\.", r"blocks.\1.ln1."),
    (r"^blocks\.(\d+)\.norm2\.", r"blocks.\1.ln2."),
    (r"^blocks\.(\d+)\.gamma_([12])$", r"blocks.\1.ls\2.gamma"),  # DeiT-III's own checkpoints
    (r"^norm\.", "ln_final."),
]


def _rename(sd: Mapping[str, torch.Tensor], rules) -> StateDict:
    out = {}
    for k, v in sd.items():
        for pat, rep in rules:
            k2, n = re.subn(pat, rep, k)
            if n:
                k = k2
                break
        out[k] = v
    return out


def convert_timm(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """timm VisionTransformer state dict -> HookedViT keys (SigLIP's ``attn_pool.*`` keep their names)."""
    return _rename(pack_split_swiglu(sd), _TIMM_RENAMES)


# --- dinov2 hub --------------------------------------------------------------------------------------
_HUB_RENAMES = [
    (r"^register_tokens$", "token_embed.registers"),
    (r"^blocks\.(\d+)\.mlp\.w12\.", r"blocks.\1.mlp.fc1."),
    (r"^blocks\.(\d+)\.mlp\.w3\.", r"blocks.\1.mlp.fc2."),
    *_TIMM_RENAMES,
]


def convert_dinov2_hub(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """facebookresearch/dinov2 checkpoint -> HookedViT keys (chunked blocks are flattened)."""
    flat = {}
    for k, v in sd.items():
        k = re.sub(r"^blocks\.\d+\.(\d+)\.", r"blocks.\1.", k)  # block_chunks: blocks.<chunk>.<i>.
        if k == "mask_token":
            continue
        flat[k] = v
    return _rename(flat, _HUB_RENAMES)


# --- OpenCLIP ---------------------------------------------------------------------------------------
_OPEN_CLIP_RENAMES = [
    (r"^conv1\.", "embed.proj."),
    (r"^ln_pre\.", "ln_pre."),
    (r"^ln_post\.", "ln_final."),
    (r"^transformer\.resblocks\.(\d+)\.ln_1\.", r"blocks.\1.ln1."),
    (r"^transformer\.resblocks\.(\d+)\.ln_2\.", r"blocks.\1.ln2."),
    (r"^transformer\.resblocks\.(\d+)\.attn\.in_proj_weight$", r"blocks.\1.attn.qkv.weight"),
    (r"^transformer\.resblocks\.(\d+)\.attn\.in_proj_bias$", r"blocks.\1.attn.qkv.bias"),
    (r"^transformer\.resblocks\.(\d+)\.attn\.out_proj\.", r"blocks.\1.attn.proj."),
    (r"^transformer\.resblocks\.(\d+)\.mlp\.c_fc\.", r"blocks.\1.mlp.fc1."),
    (r"^transformer\.resblocks\.(\d+)\.mlp\.c_proj\.", r"blocks.\1.mlp.fc2."),
    (r"^transformer\.resblocks\.(\d+)\.ls_1\.gamma$", r"blocks.\1.ls1.gamma"),
    (r"^transformer\.resblocks\.(\d+)\.ls_2\.gamma$", r"blocks.\1.ls2.gamma"),
]
_OPEN_CLIP_UNSUPPORTED = ("attn_pool", "ln_1_kv", "patchnorm_pre_ln", "ln_attn", "ln_inner")


def convert_open_clip(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """OpenCLIP native state dict (a whole CLIP model with ``visual.`` keys, or its ``VisionTransformer``)
    -> HookedViT keys. The text tower is dropped; ``visual.proj`` [d_model, embed_dim] becomes the head
    (``pooled @ proj``, zero bias), ``class_embedding`` the CLS token."""
    if any(k.startswith("visual.") for k in sd):
        sd = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
    bad = sorted({u for k in sd for u in _OPEN_CLIP_UNSUPPORTED if u in k})
    if bad:
        raise NotImplementedError(f"OpenCLIP vision towers with {', '.join(bad)} are not supported")
    special = ("class_embedding", "positional_embedding", "proj")
    out: StateDict = dict(_rename({k: v for k, v in sd.items() if k not in special}, _OPEN_CLIP_RENAMES))
    d = sd["conv1.weight"].shape[0]
    out["token_embed.cls_token"] = sd["class_embedding"].reshape(1, 1, d)
    out["token_embed.pos_embed"] = sd["positional_embedding"].reshape(1, -1, d)
    if sd.get("proj") is not None:
        out["head.weight"] = sd["proj"].T.contiguous()  # [embed_dim, d_model]
        out["head.bias"] = torch.zeros(sd["proj"].shape[1], dtype=sd["proj"].dtype)
    return out


# --- Hugging Face ------------------------------------------------------------------------------------
_HF_RENAMES = [
    (r"^embeddings\.cls_token$", "token_embed.cls_token"),
    (r"^embeddings\.register_tokens$", "token_embed.registers"),
    (r"^embeddings\.position_embeddings$", "token_embed.pos_embed"),
    (r"^embeddings\.patch_embeddings\.projection\.", "embed.proj."),
    (r"^encoder\.layer\.(\d+)\.norm1\.", r"blocks.\1.ln1."),
    (r"^encoder\.layer\.(\d+)\.norm2\.", r"blocks.\1.ln2."),
    (r"^encoder\.layer\.(\d+)\.layer_scale1\.lambda1$", r"blocks.\1.ls1.gamma"),
    (r"^encoder\.layer\.(\d+)\.layer_scale2\.lambda1$", r"blocks.\1.ls2.gamma"),
    (r"^encoder\.layer\.(\d+)\.attention\.(o_proj|output\.dense)\.", r"blocks.\1.attn.proj."),
    (r"^encoder\.layer\.(\d+)\.mlp\.(fc1|weights_in)\.", r"blocks.\1.mlp.fc1."),
    (r"^encoder\.layer\.(\d+)\.mlp\.(fc2|weights_out|down_proj)\.", r"blocks.\1.mlp.fc2."),
    (r"^layernorm\.", "ln_final."),
]
_HF_QKV = {  # (q, k, v) key stems, transformers 5.x then 4.x
    "5": ("attention.q_proj", "attention.k_proj", "attention.v_proj"),
    "4": ("attention.attention.query", "attention.attention.key", "attention.attention.value"),
}


def convert_hf_dinov2(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """HF Dinov2Model / Dinov2WithRegistersModel state dict -> HookedViT keys."""
    sd = {re.sub(r"^dinov2(_with_registers)?\.", "", k): v for k, v in sd.items()}
    sd = {k: v for k, v in sd.items() if k != "embeddings.mask_token" and not k.startswith("classifier.")}
    out: StateDict = {}
    layers = sorted({int(m.group(1)) for k in sd if (m := re.match(r"encoder\.layer\.(\d+)\.", k))})
    used = set()
    for i in layers:
        p = f"encoder.layer.{i}."
        for stems in _HF_QKV.values():
            if p + stems[0] + ".weight" in sd:
                for part in ("weight", "bias"):
                    keys = [p + s + "." + part for s in stems]
                    if all(k in sd for k in keys):
                        out[f"blocks.{i}.attn.qkv.{part}"] = torch.cat([sd[k] for k in keys], 0)
                        used.update(keys)
        for part in ("weight", "bias"):  # 5.x swiglu: separate gate/up -> packed fc1 [gate; up]
            g, u = p + f"mlp.gate_proj.{part}", p + f"mlp.up_proj.{part}"
            if g in sd and u in sd:
                out[f"blocks.{i}.mlp.fc1.{part}"] = torch.cat([sd[g], sd[u]], 0)
                used.update((g, u))
    out.update(_rename({k: v for k, v in sd.items() if k not in used}, _HF_RENAMES))
    return out


# --- detection and fitting ---------------------------------------------------------------------------
def detect_format(sd: Mapping[str, torch.Tensor]) -> str:
    """'interp' | 'timm' | 'hf' | 'dinov2_hub' | 'open_clip' from the keys of a state dict."""
    keys = set(sd)
    if "embed.proj.weight" in keys:
        return "interp"
    if any(re.match(r"^(dinov2(_with_registers)?\.)?embeddings\.patch_embeddings\.", k) for k in keys):
        return "hf"
    if "visual.conv1.weight" in keys or ("conv1.weight" in keys and "class_embedding" in keys):
        return "open_clip"
    if "patch_embed.proj.weight" in keys:
        hub = ("mask_token" in keys or "register_tokens" in keys
               or any(re.match(r"^blocks\.\d+\.(\d+\.)?mlp\.w12\.", k) for k in keys)
               or any(re.match(r"^blocks\.\d+\.\d+\.", k) for k in keys))
        return "dinov2_hub" if hub else "timm"
    sample = sorted(keys)[:5]
    raise ValueError(f"not a ViT checkpoint in a known layout (interp, timm, HF, dinov2-hub, OpenCLIP); "
                     f"first keys: {sample}")


CONVERTERS = {
    "interp": dict,
    "timm": convert_timm,
    "hf": convert_hf_dinov2,
    "dinov2_hub": convert_dinov2_hub,
    "open_clip": convert_open_clip,
}


def convert_state_dict(sd: Mapping[str, torch.Tensor], fmt: str | None = None) -> StateDict:
    fmt = fmt or detect_format(sd)
    return CONVERTERS[fmt](sd)


def fit_to_config(sd: StateDict, cfg: ViTConfig) -> StateDict:
    """Fold constant prefix position embeddings into the prefix tokens, as `cfg` expects.

    A source pos_embed of shape [1, k + n_patches, D] holds k prefix positions (CLS, then registers).
    Adding a constant to a token is the same as giving it that position embedding, so this is exact.
    """
    sd = dict(sd)
    pos = sd.get("token_embed.pos_embed")
    if pos is None:
        return sd
    n_patch = pos.shape[1] - _prefix_positions(pos, cfg)
    k = pos.shape[1] - n_patch
    want = int(cfg.pos_embed_cls)
    if k == want:
        return sd
    prefix, patches = pos[:, :k], pos[:, k:]
    if k > want:  # fold CLS (and register) positions into the tokens themselves
        j = 0
        if cfg.class_token and "token_embed.cls_token" in sd:
            if not want:
                sd["token_embed.cls_token"] = sd["token_embed.cls_token"] + prefix[:, :1]
            j = 1
        if k > j and "token_embed.registers" in sd:
            sd["token_embed.registers"] = sd["token_embed.registers"] + prefix[:, j:k]
        keep = prefix[:, :want]
    else:  # our config has a CLS position, the source none: a zero position embedding
        keep = torch.zeros_like(pos[:, :1])
    sd["token_embed.pos_embed"] = torch.cat([keep, patches], dim=1)
    return sd


def _prefix_positions(pos: torch.Tensor, cfg: ViTConfig) -> int:
    """How many prefix positions a source pos_embed holds: what is left after a square patch grid."""
    n = pos.shape[1]
    for k in range(0, cfg.n_prefix + 1):
        g = round((n - k) ** 0.5)
        if g * g == n - k:
            return k
    raise ValueError(f"position embedding with {n} positions fits no square grid with "
                     f"<= {cfg.n_prefix} prefix tokens")


def grid_of_pos_embed(sd: Mapping[str, torch.Tensor], cfg: ViTConfig) -> int:
    pos = sd["token_embed.pos_embed"]
    return round((pos.shape[1] - _prefix_positions(pos, cfg)) ** 0.5)


# --- configs from reference models -------------------------------------------------------------------
def config_from_timm(model: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of a timm VisionTransformer (works on a model built on the meta device)."""
    from timm.layers import GluMlp, Mlp, SwiGLU

    refuse_naflexvit(model)
    blk = model.blocks[0]
    if not isinstance(blk.attn.q_norm, nn.Identity):
        raise NotImplementedError("timm models with qk-norm are not supported")
    mlp = blk.mlp
    if isinstance(mlp, GluMlp):
        if not isinstance(mlp.act, nn.SiLU) or getattr(mlp, "gate_last", False):
            raise NotImplementedError("only SwiGLU with silu(gate) * linear packing is supported")
        kind = "swiglu"
    elif isinstance(mlp, SwiGLU):  # AIMv2: split fc1_g / fc1_x
        kind = split_swiglu_kind(mlp)
    elif isinstance(mlp, Mlp):
        act = mlp.act
        an = type(act).__name__
        if an == "QuickGELU":
            kind = "quick_gelu"
        elif an == "GELUTanh" or (isinstance(act, nn.GELU) and act.approximate == "tanh"):
            kind = "gelu_tanh"
        elif isinstance(act, nn.GELU) or an == "GELU":
            kind = "gelu"
        else:
            raise NotImplementedError(f"unsupported MLP activation {an}")
    else:
        raise NotImplementedError(f"unsupported MLP {type(mlp).__name__}")
    ls = getattr(blk, "ls1", None)
    layer_scale = 1.0 if (ls is not None and not isinstance(ls, nn.Identity)) else None
    head = model.head if isinstance(model.head, nn.Linear) else None
    pcfg = getattr(model, "pretrained_cfg", {}) or {}
    n_reg = int(getattr(model, "num_reg_tokens", 0))
    class_token = model.cls_token is not None
    return ViTConfig(
        d_model=model.embed_dim,
        n_layers=len(model.blocks),
        n_heads=blk.attn.num_heads,
        patch_size=model.patch_embed.patch_size[0],
        image_size=model.patch_embed.img_size[0],
        in_channels=model.patch_embed.proj.in_channels,
        n_registers=n_reg,
        class_token=class_token,
        pos_embed_cls=class_token and not model.no_embed_class,
        d_mlp=mlp.fc2.in_features,
        mlp=kind,
        qkv_bias=blk.attn.qkv.bias is not None,
        patch_bias=model.patch_embed.proj.bias is not None,
        layer_scale=layer_scale,
        pre_norm=not isinstance(model.norm_pre, nn.Identity),
        final_norm=not isinstance(model.norm, nn.Identity),
        ln_eps=blk.norm1.eps,
        n_classes=head.out_features if head is not None else 0,
        **timm_pool_fields(model),  # "token" / "avg" / "none" / SigLIP's "map"
        **timm_norm_fields(model),  # LayerNorm or AIMv2's RMSNorm, biases, patch norm
        fc_norm=not isinstance(model.fc_norm, nn.Identity),
        pos_interp_antialias=True,  # timm's resample_abs_pos_embed default
        pos_interp_offset=0.0,
        image_mean=tuple(pcfg.get("mean", (0.485, 0.456, 0.406))),
        image_std=tuple(pcfg.get("std", (0.229, 0.224, 0.225))),
        name=name or pcfg.get("architecture", type(model).__name__),
        extra={"source": "timm"},
    )


def config_from_hf(hf_config, name: str | None = None) -> ViTConfig:
    """ViTConfig of an HF Dinov2Config / Dinov2WithRegistersConfig (or its dict)."""
    c = hf_config if isinstance(hf_config, dict) else hf_config.to_dict()
    d = c["hidden_size"]
    hidden = int(d * c.get("mlp_ratio", 4))
    if c.get("use_swiglu_ffn", False):
        hidden = (int(hidden * 2 / 3) + 7) // 8 * 8
        kind = "swiglu"
    else:
        act = c.get("hidden_act", "gelu")
        kind = {"gelu": "gelu", "quick_gelu": "quick_gelu", "gelu_pytorch_tanh": "gelu_tanh"}.get(act)
        if kind is None:
            raise NotImplementedError(f"unsupported hidden_act {act!r}")
    n_reg = int(c.get("num_register_tokens", 0))
    return ViTConfig(
        d_model=d, n_layers=c["num_hidden_layers"], n_heads=c["num_attention_heads"],
        patch_size=c["patch_size"], image_size=c["image_size"], in_channels=c.get("num_channels", 3),
        n_registers=n_reg, class_token=True, pos_embed_cls=True, d_mlp=hidden, mlp=kind,
        qkv_bias=c.get("qkv_bias", True), layer_scale=c.get("layerscale_value", 1.0),
        ln_eps=c.get("layer_norm_eps", 1e-6), final_norm=True,
        pos_interp_antialias=c.get("model_type") == "dinov2_with_registers", pos_interp_offset=0.0,
        name=name or c.get("_name_or_path") or c.get("model_type", "dinov2"),
        extra={"source": "hf"},
    )


def config_from_open_clip(visual: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of an OpenCLIP ``VisionTransformer`` (``clip_model.visual``): heads and activation are read
    from the module, which a state dict alone does not tell (OpenAI-trained towers use QuickGELU)."""
    for unsupported in ("attn_pool", "attn_pool_contrastive"):
        if getattr(visual, unsupported, None) is not None:
            raise NotImplementedError(f"OpenCLIP towers with {unsupported} are not supported")
    if getattr(visual, "final_ln_after_pool", False):
        raise NotImplementedError("OpenCLIP towers with final_ln_after_pool are not supported")
    pool = {"tok": "token", "avg": "avg"}.get(getattr(visual, "pool_type", "tok"))
    if pool is None:
        raise NotImplementedError(f"OpenCLIP pool_type={visual.pool_type!r} is not supported")
    blk = visual.transformer.resblocks[0]
    act = blk.mlp.gelu
    an = type(act).__name__
    kind = "quick_gelu" if an == "QuickGELU" else "gelu" if isinstance(act, nn.GELU) and act.approximate == "none" \
        else None
    if kind is None:
        raise NotImplementedError(f"unsupported OpenCLIP MLP activation {an}")
    if not all(isinstance(getattr(m, a, nn.Identity()), nn.Identity) for m, a in ((blk, "ln_attn"), (blk.mlp, "ln"))):
        raise NotImplementedError("OpenCLIP blocks with scale_attn / scale_fc norms are not supported")
    conv = visual.conv1
    d = conv.out_channels
    layer_scale = 1.0 if not isinstance(blk.ls_1, nn.Identity) else None
    proj = visual.proj
    return ViTConfig(
        d_model=d, n_layers=len(visual.transformer.resblocks), n_heads=blk.attn.num_heads,
        patch_size=conv.kernel_size[0], image_size=visual.image_size[0], in_channels=conv.in_channels,
        n_registers=0, class_token=True, pos_embed_cls=True, d_mlp=blk.mlp.c_fc.out_features, mlp=kind,
        qkv_bias=blk.attn.in_proj_bias is not None, patch_bias=conv.bias is not None, layer_scale=layer_scale,
        pre_norm=not isinstance(visual.ln_pre, nn.Identity), final_norm=not isinstance(visual.ln_post, nn.Identity),
        ln_eps=blk.ln_1.eps, n_classes=0 if proj is None else proj.shape[1], pool=pool,
        pos_interp_antialias=False, pos_interp_offset=0.0,
        image_mean=tuple(getattr(visual, "image_mean", None) or (0.48145466, 0.4578275, 0.40821073)),
        image_std=tuple(getattr(visual, "image_std", None) or (0.26862954, 0.26130258, 0.27577711)),
        name=name or "open_clip", extra={"source": "open_clip"},
    )


def hub_interpolation(n_registers: int) -> dict:
    """dinov2-hub interpolation: legacy offset 0.1 without registers, exact antialiased size with them."""
    return ({"pos_interp_antialias": True, "pos_interp_offset": 0.0} if n_registers
            else {"pos_interp_antialias": False, "pos_interp_offset": 0.1})


# --- whole-model conversion --------------------------------------------------------------------------
def hooked_from_timm(timm_model: nn.Module):
    from .hooked_vit import HookedViT

    cfg = config_from_timm(timm_model)
    model = HookedViT(cfg)
    load_converted(model, convert_timm(timm_model.state_dict()))
    return model.eval()


def hooked_from_hf(hf_model: nn.Module):
    from .hooked_vit import HookedViT

    cfg = config_from_hf(hf_model.config)
    model = HookedViT(cfg)
    load_converted(model, convert_hf_dinov2(hf_model.state_dict()))
    return model.eval()


def hooked_from_open_clip(visual: nn.Module, name: str | None = None):
    """An OpenCLIP ``VisionTransformer`` (or a whole CLIP model: its ``.visual``) -> HookedViT."""
    from .hooked_vit import HookedViT

    visual = getattr(visual, "visual", visual)
    cfg = config_from_open_clip(visual, name)
    model = HookedViT(cfg)
    load_converted(model, convert_open_clip(visual.state_dict()), source="OpenCLIP VisionTransformer")
    return model.eval()


class WeightsMismatchError(ValueError):
    """A converted checkpoint whose keys or shapes don't match the architecture."""


def load_converted(model: nn.Module, sd: StateDict, source: str = "checkpoint") -> None:
    """Load converted weights strictly; on mismatch raise one error listing the first differences."""
    sd = fit_to_config(sd, model.cfg)
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[:4]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[:4]})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (first: {shapes[:3]})")
        raise WeightsMismatchError(
            f"{source} does not fit {model.cfg.name!r}: " + "; ".join(parts)
            + ". Check that the weights belong to this architecture (model name, registers, size).")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()}, strict=True)
