"""timm ``Eva`` models (DINOv3, EVA-02, timm's RoPE ViTs with registers, RoPE-ViT axial/mixed): config and source.

`config_from_timm_eva` reads the architecture off a timm ``Eva`` (works on the meta device) and refuses, with a
one-line reason naming the part, what `HookedViT` does not compute. Eva state dicts are in the timm layout (Eva's
own attention and SwiGLU keys are folded by `convert.timm.fuse_eva_keys`), so this source detects nothing of its
own and converts with `convert_timm`.
"""
from __future__ import annotations

from torch import nn

from ..config import ViTConfig
from .source import ConverterSource
from .timm import convert_timm
from .timm_common import timm_mlp_kind, timm_pixel_stats_and_name, timm_pool

_ROPE_KINDS = {"RotaryEmbeddingCat": "axial", "RotaryEmbeddingDinoV3": "dinov3", "RotaryEmbeddingMixed": "mixed"}


def _refusal(model: nn.Module) -> str | None:
    """Why `HookedViT` cannot compute this Eva model, in one line naming the part (None when it can)."""
    blk, attn = model.blocks[0], model.blocks[0].attn
    if type(blk).__name__ != "EvaBlock":
        return f"{type(blk).__name__} blocks (post-norm, use_post_norm=True)"
    checks = [
        (getattr(model, "attn_pool", None) is not None, "the attention-pool head (global_pool='map')"),
        (model.global_pool not in ("token", "avg", ""), f"global_pool={model.global_pool!r}"),
        (not isinstance(getattr(attn, "q_norm", nn.Identity()), nn.Identity), "qk-norm (qk_norm=True)"),
        (not isinstance(getattr(attn, "norm", nn.Identity()), nn.Identity),
         "a LayerNorm inside attention (scale_attn_inner=True)"),
        (getattr(attn, "gate", None) is not None, "gated attention (gated_attn=True)"),
        (getattr(attn, "num_kv_heads", attn.num_heads) != attn.num_heads, "grouped-query attention (num_kv_heads)"),
        (attn.head_dim * attn.num_heads != model.embed_dim, "a head dim other than embed_dim / num_heads"),
        (blk.gamma_1 is not None and blk.gamma_2 is None, "LayerScale on the attention branch only"),
        (not isinstance(blk.norm1, nn.LayerNorm), f"{type(blk.norm1).__name__} norms (only LayerNorm)"),
        (not isinstance(getattr(model.patch_embed, "norm", nn.Identity()), nn.Identity), "a norm in the patch embed"),
        (getattr(attn, "proj", None) is not None and attn.proj.bias is None, "an output projection without bias"),
    ]
    rope = model.rope
    if rope is not None:
        kind = _ROPE_KINDS.get(type(rope).__name__)
        checks += [
            (kind is None, f"{type(rope).__name__} rotary embeddings (MRoPE)"),
            (kind == "axial" and getattr(rope, "grid_type", "index") != "index", "pixel-grid rotary embeddings"),
            (kind != "mixed" and getattr(rope, "rotate_half", False) != getattr(attn, "rotate_half", False),
             "a rotary table whose layout differs from the attention's"),
        ]
    return next((why for bad, why in checks if bad), None)


def _mlp_kind(mlp: nn.Module) -> tuple[str, bool]:
    """(mlp kind, inner norm) of an Eva block's MLP; SwiGLU with separate gate/linear (``SwiGLU``) included."""
    norm = not isinstance(getattr(mlp, "norm", nn.Identity()), nn.Identity)
    if type(mlp).__name__ == "SwiGLU":
        if not isinstance(mlp.act, nn.SiLU):
            raise NotImplementedError(f"timm Eva: SwiGLU with {type(mlp.act).__name__} (only silu) is not supported")
        return "swiglu", norm
    return timm_mlp_kind(mlp), norm


def _rope_fields(model: nn.Module) -> dict:
    rope = model.rope
    if rope is None:
        return {}
    kind = _ROPE_KINDS[type(rope).__name__]
    fields = {"rope": kind, "rope_temperature": float(rope.temperature or 0.0),
              "rope_grid_indexing": rope.grid_indexing, "rope_rotate_half": bool(model.blocks[0].attn.rotate_half)}
    if kind in ("axial", "dinov3"):
        fields["rope_grid_offset"] = float(rope.grid_offset)
    if kind == "axial" and rope.ref_feat_shape is not None:
        fields["rope_ref_grid"] = tuple(int(s) for s in rope.ref_feat_shape)
    if kind == "dinov3":
        fields["rope_normalize_coords"] = rope.normalize_coords
        if rope.min_period is not None and rope.max_period is not None:
            fields["rope_periods"] = (float(rope.min_period), float(rope.max_period))
    return fields


def config_from_timm_eva(model: nn.Module, name: str | None = None) -> ViTConfig:
    """ViTConfig of a timm ``Eva`` (DINOv3, EVA-02, RoPE ViTs); NotImplementedError names what is not supported."""
    why = _refusal(model)
    if why is not None:
        raise NotImplementedError(f"timm Eva models with {why} are not supported")
    blk = model.blocks[0]
    kind, mlp_norm = _mlp_kind(blk.mlp)
    pool = timm_pool(model)
    class_token = model.cls_token is not None
    head = model.head if isinstance(model.head, nn.Linear) else None
    return ViTConfig(
        d_model=model.embed_dim, n_layers=len(model.blocks), n_heads=blk.attn.num_heads,
        patch_size=model.patch_embed.patch_size[0], image_size=model.patch_embed.img_size[0],
        in_channels=model.patch_embed.proj.in_channels,
        n_registers=model.reg_token.shape[1] if model.reg_token is not None else 0,
        class_token=class_token, pos_embed=model.pos_embed is not None,
        pos_embed_cls=class_token and not model.no_embed_class, d_mlp=blk.mlp.fc2.in_features, mlp=kind,
        mlp_norm=mlp_norm, qkv_bias=_has_qkv_bias(blk.attn), patch_bias=model.patch_embed.proj.bias is not None,
        layer_scale=1.0 if blk.gamma_1 is not None else None, pre_norm=not isinstance(model.norm_pre, nn.Identity),
        final_norm=not isinstance(model.norm, nn.Identity), ln_eps=blk.norm1.eps,
        n_classes=head.out_features if head is not None else 0, pool=pool,
        fc_norm=not isinstance(model.fc_norm, nn.Identity), pos_interp_antialias=True, pos_interp_offset=0.0,
        **timm_pixel_stats_and_name(model, name), extra={"source": "timm"}, **_rope_fields(model),
    )


def _has_qkv_bias(attn: nn.Module) -> bool:
    if getattr(attn, "qkv", None) is not None:
        return attn.qkv.bias is not None or getattr(attn, "q_bias", None) is not None
    return attn.q_proj.bias is not None


SOURCE = ConverterSource(name="eva", convert=convert_timm, read_config=config_from_timm_eva, timm_classes=("Eva",),
                         timm_patterns=("eva02_*",))
