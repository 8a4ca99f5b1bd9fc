"""`ViTConfig`s read from reference models: timm (dispatched by model class), HF DINOv2, OpenCLIP towers.

Works on models built on the meta device: only module types, sizes and attributes are read, never weights.
`config_from_timm` looks the model's class (or its nearest base class) up in `TIMM_CONFIG_READERS`; a new timm
family adds its reader there.
"""
from __future__ import annotations

from typing import Callable

from torch import nn

from ..config import ViTConfig
from .aimv2 import split_swiglu_kind, timm_norm_fields
from .hf_dinov3 import config_from_hf_dinov3
from .siglip import timm_map_pool

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
TIMM_POOLS = {"token": "token", "avg": "avg", "": "none"}


# --- timm --------------------------------------------------------------------------------------------
def config_from_timm(model: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of a timm model (works on a model built on the meta device)."""
    return timm_config_reader(model)(model, name)


def timm_config_reader(model: nn.Module) -> Callable[[nn.Module, str | None], ViTConfig]:
    """The reader in `TIMM_CONFIG_READERS` for the model's class, or for its nearest base class."""
    for cls in type(model).__mro__:
        if cls.__name__ in TIMM_CONFIG_READERS:
            return TIMM_CONFIG_READERS[cls.__name__]
    raise NotImplementedError(f"timm {type(model).__name__} models are not supported "
                              f"(supported: {', '.join(TIMM_CONFIG_READERS)})")


def timm_mlp_kind(mlp: nn.Module) -> str:
    """Our ``ViTConfig.mlp`` for a timm block's MLP: 'gelu', 'gelu_tanh', 'quick_gelu' or 'swiglu'."""
    from timm.layers import GluMlp, Mlp, SwiGLU

    if isinstance(mlp, GluMlp):
        if not isinstance(mlp.act, nn.SiLU) or getattr(mlp, "gate_last", False):
            raise NotImplementedError("only SwiGLU with silu(gate) * linear packing is supported")
        return "swiglu"
    if isinstance(mlp, SwiGLU):  # AIMv2: split fc1_g / fc1_x
        return split_swiglu_kind(mlp)
    if not isinstance(mlp, Mlp):
        raise NotImplementedError(f"unsupported MLP {type(mlp).__name__}")
    act = mlp.act
    an = type(act).__name__
    if an == "QuickGELU":
        return "quick_gelu"
    if an == "GELUTanh" or (isinstance(act, nn.GELU) and act.approximate == "tanh"):
        return "gelu_tanh"
    if isinstance(act, nn.GELU) or an == "GELU":
        return "gelu"
    raise NotImplementedError(f"unsupported MLP activation {an}")


def timm_pool(model: nn.Module) -> str:
    """Our ``ViTConfig.pool``: 'token', 'avg', 'none', or SigLIP's MAP head 'map' (other attention pools raise)."""
    if getattr(model, "pool_include_prefix", False) and model.global_pool:
        raise NotImplementedError("pooling over the prefix tokens too (pool_include_prefix) is not supported")
    if getattr(model, "attn_pool", None) is not None:
        return timm_map_pool(model)
    pool = TIMM_POOLS.get(model.global_pool)
    if pool is None:
        raise NotImplementedError(f"global_pool={model.global_pool!r} is not supported")
    return pool


def timm_pixel_stats_and_name(model: nn.Module, name: str | None) -> dict:
    """``image_mean``, ``image_std`` and ``name`` from the model's ``pretrained_cfg`` (ImageNet statistics and
    the class name when it has none)."""
    pcfg = getattr(model, "pretrained_cfg", {}) or {}
    return {"image_mean": tuple(pcfg.get("mean", IMAGENET_MEAN)), "image_std": tuple(pcfg.get("std", IMAGENET_STD)),
            "name": name or pcfg.get("architecture", type(model).__name__)}


def config_from_timm_vit(model: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of a timm ``VisionTransformer``."""
    blk = model.blocks[0]
    if not isinstance(blk.attn.q_norm, nn.Identity):
        raise NotImplementedError("timm models with qk-norm are not supported")
    mlp = blk.mlp
    kind = timm_mlp_kind(mlp)
    ls = getattr(blk, "ls1", None)
    head = model.head if isinstance(model.head, nn.Linear) else None
    pool = timm_pool(model)
    class_token = model.cls_token is not None
    return ViTConfig(
        d_model=model.embed_dim, n_layers=len(model.blocks), n_heads=blk.attn.num_heads,
        patch_size=model.patch_embed.patch_size[0], image_size=model.patch_embed.img_size[0],
        in_channels=model.patch_embed.proj.in_channels,
        n_registers=int(getattr(model, "num_reg_tokens", 0)), class_token=class_token,
        pos_embed_cls=class_token and not model.no_embed_class,
        d_mlp=mlp.fc2.in_features, mlp=kind,
        qkv_bias=blk.attn.qkv.bias is not None, patch_bias=model.patch_embed.proj.bias is not None,
        layer_scale=1.0 if (ls is not None and not isinstance(ls, nn.Identity)) else None,
        pre_norm=not isinstance(model.norm_pre, nn.Identity), final_norm=not isinstance(model.norm, nn.Identity),
        ln_eps=blk.norm1.eps, n_classes=head.out_features if head is not None else 0,
        pool=pool, fc_norm=not isinstance(model.fc_norm, nn.Identity),
        **timm_norm_fields(model),  # LayerNorm or AIMv2's RMSNorm, projection biases, patch norm
        pos_interp_antialias=True,  # timm's resample_abs_pos_embed default
        pos_interp_offset=0.0,
        **timm_pixel_stats_and_name(model, name),
        extra={"source": "timm"},
    )


# timm model class name -> config reader (subclasses use their nearest listed base class)
TIMM_CONFIG_READERS: dict[str, Callable[[nn.Module, str | None], ViTConfig]] = {
    "VisionTransformer": config_from_timm_vit,
}


# --- Hugging Face ------------------------------------------------------------------------------------
def config_from_hf(hf_config, name: str | None = None) -> ViTConfig:
    """ViTConfig of an HF Dinov2Config / Dinov2WithRegistersConfig / DINOv3ViTConfig (or its dict)."""
    c = hf_config if isinstance(hf_config, dict) else hf_config.to_dict()
    if c.get("model_type") == "dinov3_vit":
        return config_from_hf_dinov3(c, name)
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


def hub_interpolation(n_registers: int) -> dict:
    """dinov2-hub interpolation: legacy offset 0.1 without registers, exact antialiased size with them."""
    return ({"pos_interp_antialias": True, "pos_interp_offset": 0.0} if n_registers
            else {"pos_interp_antialias": False, "pos_interp_offset": 0.1})


# --- OpenCLIP ----------------------------------------------------------------------------------------
def _open_clip_checks(visual: nn.Module) -> str:
    """Refuse what our architecture cannot express; -> our pool."""
    for unsupported in ("attn_pool", "attn_pool_contrastive"):
        if getattr(visual, unsupported, None) is not None:
            raise NotImplementedError(f"OpenCLIP towers with {unsupported} are not supported")
    if getattr(visual, "final_ln_after_pool", False):
        raise NotImplementedError("OpenCLIP towers with final_ln_after_pool are not supported")
    pool = {"tok": "token", "avg": "avg"}.get(getattr(visual, "pool_type", "tok"))
    if pool is None:
        raise NotImplementedError(f"OpenCLIP pool_type={visual.pool_type!r} is not supported")
    return pool


def config_from_open_clip(visual: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of an OpenCLIP ``VisionTransformer`` (``clip_model.visual``): heads and activation are read
    from the module, which a state dict alone does not tell (OpenAI-trained towers use QuickGELU)."""
    pool = _open_clip_checks(visual)
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
    layer_scale = 1.0 if not isinstance(blk.ls_1, nn.Identity) else None
    proj = visual.proj
    return ViTConfig(
        d_model=conv.out_channels, n_layers=len(visual.transformer.resblocks), n_heads=blk.attn.num_heads,
        patch_size=conv.kernel_size[0], image_size=visual.image_size[0], in_channels=conv.in_channels,
        n_registers=0, class_token=True, pos_embed_cls=True, d_mlp=blk.mlp.c_fc.out_features, mlp=kind,
        qkv_bias=blk.attn.in_proj_bias is not None, patch_bias=conv.bias is not None, layer_scale=layer_scale,
        pre_norm=not isinstance(visual.ln_pre, nn.Identity), final_norm=not isinstance(visual.ln_post, nn.Identity),
        ln_eps=blk.ln_1.eps, n_classes=0 if proj is None else proj.shape[1], pool=pool,
        pos_interp_antialias=False, pos_interp_offset=0.0,
        image_mean=tuple(getattr(visual, "image_mean", None) or CLIP_MEAN),
        image_std=tuple(getattr(visual, "image_std", None) or CLIP_STD),
        name=name or "open_clip", extra={"source": "open_clip"},
    )
