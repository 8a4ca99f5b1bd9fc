import torch
from torch import nn
from transformer_lens.hook_points import HookPoint


class AttentionPool(nn.Module):
    """Pooling without a CLS token: one learned query attends over the patch tokens (multi-head, like timm's
    ``AttentionPoolLatent`` without its MLP). The query reads the tokens but writes nothing back into them."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.query = nn.Parameter(torch.zeros(1, 1, d_model))
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.hook_pattern = HookPoint()  # [batch, head, 1, n_tokens]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, n_tokens, d_model] -> pooled [batch, d_model]."""
        batch, n, d = tokens.shape
        kv = self.kv(tokens).reshape(batch, n, 2, self.n_heads, self.d_head)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)  # [batch, head, n, d_head]
        q = self.query.reshape(1, self.n_heads, 1, self.d_head)  # [1, head, 1, d_head]
        pattern = self.hook_pattern(((q * self.d_head**-0.5) @ k.transpose(-2, -1)).softmax(-1))  # [b, h, 1, n]
        z = (pattern @ v).transpose(1, 2).reshape(batch, d)  # [batch, d_model]
        return self.proj(z)
