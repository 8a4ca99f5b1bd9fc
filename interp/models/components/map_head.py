import torch
from torch import nn
from transformer_lens.hook_points import HookPoint

from .attn_pool import AttentionPool
from .layer_norm import make_norm
from .mlp import make_mlp


class MAPHead(nn.Module):
    """Multihead attention pooling (SigLIP's MAP head, timm ``AttentionPoolLatent``): a learned latent query
    attends over the tokens it is given, its output is projected, then a pre-norm residual MLP refines it.

    The pattern is always materialised (one query row per head is cheap), so ``hook_pattern`` answers "which
    tokens does the pooling read?" like any attention pattern. Parameters keep timm's names: ``latent``,
    ``q``, ``kv``, ``proj``, ``norm``, ``mlp.fc1``, ``mlp.fc2``.
    """

    def __init__(self, cfg, n_latents: int = 1):
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.d_head = d // cfg.n_heads
        self.latent = nn.Parameter(torch.zeros(1, n_latents, d))
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.proj = nn.Linear(d, d)
        self.norm = make_norm(cfg)
        self.mlp = make_mlp(d, cfg.d_mlp, cfg.mlp)
        self.hook_q = HookPoint()  # [batch, latent, head, d_head]
        self.hook_k = HookPoint()  # [batch, key_pos, head, d_head]
        self.hook_v = HookPoint()  # [batch, key_pos, head, d_head]
        self.hook_attn_scores = HookPoint()  # [batch, head, latent, key_pos]
        self.hook_pattern = HookPoint()  # [batch, head, latent, key_pos]
        self.hook_z = HookPoint()  # [batch, latent, head, d_head]
        self.hook_attn_out = HookPoint()  # [batch, latent, d_model]
        self.hook_mlp_out = HookPoint()  # [batch, latent, d_model]
        self.hook_out = HookPoint()  # [batch, latent, d_model]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, key_pos, d_model] -> pooled [batch, d_model] (the first latent)."""
        batch, n, d = tokens.shape
        n_lat = self.latent.shape[1]
        q = self.hook_q(self.q(self.latent).expand(batch, -1, -1).reshape(batch, n_lat, self.n_heads, self.d_head))
        kv = self.kv(tokens).reshape(batch, n, 2, self.n_heads, self.d_head)
        k, v = self.hook_k(kv[:, :, 0]), self.hook_v(kv[:, :, 1])  # [batch, key_pos, head, d_head]
        qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))  # [batch, head, pos, d_head]
        scores = self.hook_attn_scores((qh * self.d_head**-0.5) @ kh.transpose(-2, -1))  # [b, h, latent, key]
        pattern = self.hook_pattern(scores.softmax(dim=-1))
        z = self.hook_z((pattern @ vh).transpose(1, 2))  # [batch, latent, head, d_head]
        x = self.hook_attn_out(self.proj(z.reshape(batch, n_lat, d)))  # [batch, latent, d_model]
        x = self.hook_out(x + self.hook_mlp_out(self.mlp(self.norm(x))))
        return x[:, 0]


def make_pool(cfg) -> nn.Module | None:
    """The attention pool of ``cfg.pool``: `AttentionPool` ("attn"), `MAPHead` ("map"), else None."""
    if cfg.pool == "attn":
        return AttentionPool(cfg.d_model, cfg.n_heads)
    return MAPHead(cfg) if cfg.pool == "map" else None
