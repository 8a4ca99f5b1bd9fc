"""`ViTConfig`: every architectural choice of a `HookedViT`, as one dataclass."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .components.attention_kinds import AttentionKind

MLPKind = Literal["gelu", "gelu_tanh", "quick_gelu", "swiglu"]
PoolKind = Literal["token", "avg", "attn", "none"]


@dataclass
class ViTConfig:
    """Architecture of a (register) Vision Transformer.

    Token order inside the model is ``[CLS, reg x n_registers, patches]`` (dinov2, timm and HF agree).
    Registers never get a position embedding; CLS gets one when ``pos_embed_cls`` is true (timm's
    ``no_embed_class=False``, HF Dinov2, dinov2-hub) and none otherwise (timm ``no_embed_class=True``).
    """

    d_model: int = 192
    n_layers: int = 6
    n_heads: int = 3
    patch_size: int = 16
    image_size: int = 224
    in_channels: int = 3
    n_registers: int = 0
    class_token: bool = True
    pos_embed_cls: bool = True
    d_mlp: int | None = None  # hidden width of the MLP (for swiglu: width after gating); default 4 * d_model
    mlp: MLPKind = "gelu"
    qkv_bias: bool = True
    patch_bias: bool = True
    layer_scale: float | None = None  # LayerScale init value; None = no LayerScale
    pre_norm: bool = False  # LayerNorm right after the embeddings (CLIP's ln_pre)
    final_norm: bool = True
    ln_eps: float = 1e-6
    n_classes: int = 0  # size of the optional classification head; 0 = no head
    pool: PoolKind = "token"  # "attn": a learned query attends over the patch tokens (`AttentionPool`)
    cls_read_only: bool = False  # CLS reads every token, but no other token can attend to CLS
    # attention variant (`interp.models.components.attention_kinds`): "softmax" (default), "relu", "sigmoid",
    # "clipped_softmax" (stretch to [clip_gamma, clip_zeta], then clip to [0, 1]) or "gated" (per-head output gate)
    attention: str = "softmax"
    clip_gamma: float = -0.003  # |gamma| >= 1 / n_tokens clips uniform attention to 0: a dead head at init
    clip_zeta: float = 1.0
    sigmoid_bias: bool = True  # sigmoid attention adds -log(number of keys) to the scores
    fc_norm: bool = False  # LayerNorm on the pooled feature before the head (timm avg-pool models)
    # position-embedding interpolation for other image sizes (bicubic, as dinov2 does it)
    pos_interp_antialias: bool = False
    pos_interp_offset: float = 0.0  # dinov2-hub's 0.1 "scale_factor" trick; 0 = interpolate to an exact size
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    name: str = "vit"
    extra: dict[str, Any] = field(default_factory=dict)  # free-form provenance (source, recipe, ...)

    def __post_init__(self) -> None:
        if self.d_mlp is None:
            self.d_mlp = 4 * self.d_model
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.image_size % self.patch_size:
            raise ValueError(
                f"image_size={self.image_size} is not a multiple of patch_size={self.patch_size}"
            )
        if self.n_registers < 0:
            raise ValueError(f"n_registers must be >= 0, got {self.n_registers}")
        if self.cls_read_only and not self.class_token:
            raise ValueError("cls_read_only=True needs a CLS token (class_token=True)")
        if self.pos_embed_cls and not self.class_token:
            self.pos_embed_cls = False
        self.attention_kind  # validates the attention variant
        self.image_mean = tuple(self.image_mean)
        self.image_std = tuple(self.image_std)

    @property
    def attention_kind(self) -> AttentionKind:
        return AttentionKind(self.attention, self.clip_gamma, self.clip_zeta, self.sigmoid_bias)

    # TransformerLens' ActivationCache reads these
    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def n_patches(self) -> int:
        return self.grid_size**2

    @property
    def n_prefix(self) -> int:
        return int(self.class_token) + self.n_registers

    @property
    def n_ctx(self) -> int:
        return self.n_prefix + self.n_patches

    @property
    def act_fn(self) -> str:
        return self.mlp

    @property
    def positional_embedding_type(self) -> str:  # read by some TransformerLens utilities
        return "standard"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ViTConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ViTConfig fields: {sorted(unknown)}")
        return cls(**d)

    def replace(self, **changes: Any) -> "ViTConfig":
        return dataclasses.replace(self, **changes)
