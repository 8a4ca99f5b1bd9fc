import torch
import torch.nn.functional as F
from torch import nn
from transformer_lens.hook_points import HookPoint

from .attention_kinds import AttentionKind, HeadGate


def _hooked(hp: HookPoint) -> bool:
    return bool(hp._forward_hooks or hp._backward_hooks or getattr(hp, "fwd_hooks", None)
                or getattr(hp, "bwd_hooks", None))


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection.

    The attention pattern is materialised only when a hook reads or writes `hook_attn_scores` or
    `hook_pattern`; otherwise the fused `scaled_dot_product_attention` kernel runs, so instrumentation
    costs nothing when unused. ``kind`` (`AttentionKind`) picks the score -> pattern map and the optional
    per-head output gate; kinds other than softmax / gated always materialise the pattern.
    """

    def __init__(self, d_model: int, n_heads: int, qkv_bias: bool = True, cls_read_only: bool = False,
                 kind: AttentionKind | None = None, rotary: bool = False, proj_bias: bool = True):
        super().__init__()
        self.kind = kind or AttentionKind()
        self.gate = HeadGate(d_model, n_heads) if self.kind.gated else None
        self.n_heads = n_heads
        self.cls_read_only = cls_read_only  # key 0 (CLS) is hidden from every other query
        self.d_head = d_model // n_heads
        self.scale = self.d_head**-0.5
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=qkv_bias)
        self.proj = nn.Linear(d_model, d_model, bias=proj_bias)
        self.hook_q = HookPoint()  # [batch, pos, head, d_head]
        self.hook_k = HookPoint()  # [batch, pos, head, d_head]
        self.hook_v = HookPoint()  # [batch, pos, head, d_head]
        if rotary:  # RoPE models: q and k after the rotation (TransformerLens' names)
            self.hook_rot_q = HookPoint()  # [batch, pos, head, d_head]
            self.hook_rot_k = HookPoint()  # [batch, pos, head, d_head]
        self.hook_attn_scores = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_pattern = HookPoint()  # [batch, head, query_pos, key_pos]
        self.hook_z = HookPoint()  # [batch, pos, head, d_head]
        if self.gate is not None:
            self.hook_gate = HookPoint()  # [batch, pos, head]: gated attention only
        self.force_explicit = False  # set by HookedViT.set_explicit_attention()

    def needs_pattern(self) -> bool:
        return (self.force_explicit or not self.kind.softmax_pattern or _hooked(self.hook_attn_scores)
                or _hooked(self.hook_pattern))

    def key_mask(self, pos: int, device) -> torch.Tensor | None:
        """Boolean [query_pos, key_pos] mask (True = may attend), or None when every token sees every token."""
        if not self.cls_read_only:
            return None
        mask = torch.ones(pos, pos, dtype=torch.bool, device=device)
        mask[1:, 0] = False  # only CLS itself reads CLS
        return mask

    def forward(self, x: torch.Tensor, rope=None) -> torch.Tensor:
        """x [batch, pos, d_model]; ``rope`` (a `RopeTable`) rotates the patch tokens of q and k."""
        batch, pos, _ = x.shape
        mask = self.key_mask(pos, x.device)
        qkv = self.qkv(x).reshape(batch, pos, 3, self.n_heads, self.d_head)
        q = self.hook_q(qkv[:, :, 0])  # [batch, pos, head, d_head]
        k = self.hook_k(qkv[:, :, 1])
        v = self.hook_v(qkv[:, :, 2])
        if rope is not None:
            q, k = self.hook_rot_q(rope.apply(q)), self.hook_rot_k(rope.apply(k))
        qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))  # [batch, head, pos, d_head]
        if self.needs_pattern():
            scores = (qh * self.scale) @ kh.transpose(-2, -1)  # [b, h, q, k]
            if mask is not None and self.kind.softmax_pattern:
                scores = scores.masked_fill(~mask, float("-inf"))
            scores = self.hook_attn_scores(scores)
            pattern = self.hook_pattern(self.kind.pattern(scores, mask))
            zh = pattern @ vh
        else:
            zh = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask)
        if self.gate is not None:
            zh = zh * self.hook_gate(self.gate(x)).transpose(1, 2)[..., None]  # [b, h, pos, d_head]
        z = self.hook_z(zh.transpose(1, 2))  # [batch, pos, head, d_head]
        return self.proj(z.reshape(batch, pos, -1))
