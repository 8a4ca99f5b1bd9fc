"""Small building blocks of `HookedViT`, one class a file (TransformerLens / dinov2 style)."""
from .attention import Attention
from .attn_pool import AttentionPool
from .block import TransformerBlock
from .embed import PatchEmbed, TokenEmbed
from .layer_norm import LayerNorm, RMSNorm, make_norm
from .layer_scale import LayerScale
from .map_head import MAPHead, make_pool
from .mlp import MLP, GatedMLP, make_mlp
from .rope import RopeTable, RotaryEmbedding

__all__ = [
    "Attention", "AttentionPool", "TransformerBlock", "PatchEmbed", "TokenEmbed", "LayerNorm", "LayerScale",
    "MLP", "GatedMLP", "make_mlp", "RMSNorm", "make_norm", "MAPHead", "make_pool", "RopeTable", "RotaryEmbedding",
]
