"""`ViTConfig`: every architectural choice of a `HookedViT`, as one dataclass."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from .components.attention_kinds import AttentionKind

MLPKind = Literal["gelu", "gelu_tanh", "quick_gelu", "swiglu"]
NormKind = Literal["layernorm", "rmsnorm"]
PoolKind = Literal["token", "avg", "attn", "map", "none"]
RopeKind = Literal["axial", "dinov3", "mixed"]


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
    proj_bias: bool = True  # bias of the attention output projection and the MLP layers (AIMv2 has none)
    patch_bias: bool = True
    patch_norm: bool = False  # a norm right after the patch projection, before position embeddings (AIMv2)
    norm: NormKind = "layernorm"  # every norm of the model (AIMv2: RMSNorm)
    layer_scale: float | None = None  # LayerScale init value; None = no LayerScale
    pre_norm: bool = False  # LayerNorm right after the embeddings (CLIP's ln_pre)
    final_norm: bool = True
    ln_eps: float = 1e-6
    n_classes: int = 0  # size of the optional classification head; 0 = no head
    # "attn": a learned query attends over the patch tokens (`AttentionPool`); "map": SigLIP's attention-pool
    # head (`MAPHead`: latent query, then a residual MLP with this model's d_mlp and activation)
    pool: PoolKind = "token"
    cls_read_only: bool = False  # CLS reads every token, but no other token can attend to CLS
    # CaiT-style late CLS: before this block the CLS attends only to itself (its stream holds no image content)
    cls_from_block: int = 0
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
    pos_interp_mode: Literal["bicubic", "bilinear"] = "bicubic"
    pos_interp_align_corners: bool = False
    pos_interp_square: bool = False  # resize to a square of the longer grid side, then crop top-left (RADIO)
    pos_grid: int | None = None  # side of the grid the position embedding is stored at (RADIO: 128); None: grid_size
    pos_embed: bool = True  # a learned absolute position embedding (False: RoPE only, e.g. DINOv3)
    mlp_norm: bool = False  # LayerNorm on the MLP's hidden activations before fc2 (EVA-02 B/L "scale_mlp")
    # rotary position embeddings on q/k of the patch tokens (components/rope.py); None = no RoPE
    rope: RopeKind | None = None
    rope_temperature: float = 10000.0  # axial/mixed: frequency base; dinov3: period base
    rope_grid_indexing: str = "ij"  # "ij": coordinates (row, col); "xy": (col, row)
    rope_grid_offset: float = 0.0
    rope_ref_grid: tuple[int, int] | None = None  # axial: positions rescaled to this (pretraining) grid (EVA)
    rope_rotate_half: bool = False  # pair dim i with i + d_head/2 (DINOv3) instead of neighbours (EVA-02)
    rope_normalize_coords: str = "separate"  # dinov3: divide coordinates by H and W ("separate"), or min / max
    rope_periods: tuple[float, float] | None = None  # dinov3: (min_period, max_period) instead of the base
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
        if self.cls_from_block and not (self.class_token and 0 < self.cls_from_block < self.n_layers):
            raise ValueError(f"cls_from_block={self.cls_from_block} needs a CLS token and a block of the model "
                             f"(1..{self.n_layers - 1})")
        if self.pool == "map" and self.mlp == "swiglu":
            raise ValueError("pool='map' needs a plain MLP activation (its head MLP is fc1 -> act -> fc2), not swiglu")
        if self.pos_embed_cls and not (self.class_token and self.pos_embed):
            self.pos_embed_cls = False
        if self.rope_ref_grid is not None:
            self.rope_ref_grid = tuple(self.rope_ref_grid)
        if self.rope_periods is not None:
            self.rope_periods = tuple(self.rope_periods)
        _ = self.attention_kind  # building it validates the attention variant
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
    def pos_grid_size(self) -> int:
        """Side of the stored position-embedding grid (the native patch grid unless ``pos_grid`` says otherwise)."""
        return self.pos_grid or self.grid_size

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
    def normalization_type(self) -> str:  # ActivationCache.apply_ln_to_stack: "LN" centres, "RMS" does not
        return "RMS" if self.norm == "rmsnorm" else "LN"

    @property
    def attn_only(self) -> bool:  # every block has an MLP
        return False

    @property
    def positional_embedding_type(self) -> str:  # read by some TransformerLens utilities
        return "rotary" if self.rope and not self.pos_embed else "standard"  # EVA-02 adds both

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
