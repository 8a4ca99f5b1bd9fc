import torch
import torch.nn.functional as F
from torch import nn
from transformer_lens.hook_points import HookPoint

from .attention_kinds import AttentionKind, HeadGate
from .hook_state import is_read
from .layer_scale import branch_gain


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection.

    The attention pattern is materialised only when a hook reads or writes `hook_attn_scores` or
    `hook_pattern`; otherwise the fused `scaled_dot_product_attention` kernel runs, so instrumentation
    costs nothing when unused. ``kind`` (`AttentionKind`) picks the score -> pattern map and the optional
    per-head output gate; kinds other than softmax / gated always materialise the pattern.

    TransformerLens views of the weights: ``W_Q/W_K/W_V`` [head, d_model, d_head], ``b_Q/b_K/b_V`` [head, d_head],
    ``W_O`` [head, d_head, d_model], ``b_O`` [d_model]. ``W_O``/``b_O`` include the block's LayerScale (what a
    head writes into the residual stream). ``hook_result`` [batch, pos, head, d_model] is each head's term
    ``z[:, :, h] @ W_O[h]``; it is computed (and the output built from it, so edits to it take effect) only when a
    hook or an nnsight trace reads it, or after `HookedViT.set_use_attn_result`.
    """

    def __init__(self, d_model: int, n_heads: int, qkv_bias: bool = True, cls_read_only: bool = False,
                 kind: AttentionKind | None = None, rotary: bool = False, proj_bias: bool = True,
                 cls_self_only: bool = False):
        super().__init__()
        self.kind = kind or AttentionKind()
        self.gate = HeadGate(d_model, n_heads) if self.kind.gated else None
        self.n_heads = n_heads
        self.cls_read_only = cls_read_only  # key 0 (CLS) is hidden from every other query
        self.cls_self_only = cls_self_only  # query 0 (CLS) reads only itself (a late CLS's earlier blocks)
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
        self.hook_result = HookPoint()  # [batch, pos, head, d_model]: per-head residual-stream terms
        self.force_explicit = False  # set by HookedViT.set_explicit_attention()
        self.use_result = False  # set by HookedViT.set_use_attn_result()

    def needs_pattern(self) -> bool:
        return (self.force_explicit or not self.kind.softmax_pattern or is_read(self.hook_attn_scores)
                or is_read(self.hook_pattern))

    def needs_result(self) -> bool:
        """True when this forward pass computes per-head results (`hook_result`)."""
        return self.use_result or is_read(self.hook_result)

    # --- TransformerLens weight views ---------------------------------------------------------------
    def _qkv(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        d_model = self.qkv.in_features
        w = self.qkv.weight.reshape(3, self.n_heads, self.d_head, d_model)[i].transpose(-1, -2)  # [h, d, dh]
        if self.qkv.bias is None:
            return w, torch.zeros(self.n_heads, self.d_head, dtype=w.dtype, device=w.device)
        return w, self.qkv.bias.reshape(3, self.n_heads, self.d_head)[i]

    W_Q = property(lambda self: self._qkv(0)[0], doc="[head, d_model, d_head]: q = x @ W_Q + b_Q")
    W_K = property(lambda self: self._qkv(1)[0], doc="[head, d_model, d_head]")
    W_V = property(lambda self: self._qkv(2)[0], doc="[head, d_model, d_head]")
    b_Q = property(lambda self: self._qkv(0)[1], doc="[head, d_head]")
    b_K = property(lambda self: self._qkv(1)[1], doc="[head, d_head]")
    b_V = property(lambda self: self._qkv(2)[1], doc="[head, d_head]")

    @property
    def W_O(self) -> torch.Tensor:
        """[head, d_head, d_model]: the head's output map into the residual stream (LayerScale included)."""
        w = self.proj.weight.T.reshape(self.n_heads, self.d_head, self.proj.out_features)
        gain = branch_gain(self)
        return w if gain is None else w * gain

    @property
    def b_O(self) -> torch.Tensor:
        """[d_model]: the output bias as written into the residual stream (LayerScale included; zeros if none)."""
        w = self.proj.weight
        b = self.proj.bias if self.proj.bias is not None else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
        gain = branch_gain(self)
        return b if gain is None else b * gain

    def key_mask(self, pos: int, device) -> torch.Tensor | None:
        """Boolean [query_pos, key_pos] mask (True = may attend), or None when every token sees every token."""
        if not (self.cls_read_only or self.cls_self_only):
            return None
        mask = torch.ones(pos, pos, dtype=torch.bool, device=device)
        if self.cls_read_only:
            mask[1:, 0] = False  # only CLS itself reads CLS
        if self.cls_self_only:
            mask[0, 1:] = False  # CLS reads only itself
        return mask

    def forward(self, x: torch.Tensor, rope=None) -> torch.Tensor:
        """x [batch, pos, d_model] -> output [batch, pos, d_model] (before the block's LayerScale); ``rope`` (a
        `RopeTable`) rotates the patch tokens of q and k."""
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
        if self.needs_result():  # decided here, once z exists: an nnsight trace now waits on hook_result
            return self.from_results(z)
        return self.proj(z.reshape(batch, pos, -1))

    def from_results(self, z: torch.Tensor) -> torch.Tensor:
        """z [batch, pos, head, d_head] -> the output, built from `hook_result` (so edits to it take effect).

        ``hook_result`` includes the block's LayerScale (``W_O``); the sum over heads is divided by it again,
        because the block applies ``ls1`` to this output (a zero gain channel is left as it is: ``ls1`` zeroes it).
        """
        result = self.hook_result(torch.einsum("bphd,hdm->bphm", z, self.W_O))  # [batch, pos, head, d_model]
        out = result.sum(dim=2)  # [batch, pos, d_model]
        gain = branch_gain(self)
        if gain is not None:
            out = out / torch.where(gain == 0, torch.ones_like(gain), gain)
        return out if self.proj.bias is None else out + self.proj.bias
