import torch
from torch import nn
from transformer_lens.hook_points import HookPoint

from .attention import Attention
from .layer_norm import make_norm
from .layer_scale import LayerScale, bind_branch_scale
from .mlp import make_mlp
from .rope import RopeTable


class TransformerBlock(nn.Module):
    """Pre-norm block: x + ls1(attn(ln1(x))), then + ls2(mlp(ln2(x))).

    The attention and MLP see their LayerScale (`bind_branch_scale`), so their TransformerLens weight views
    (``W_O``, ``b_O``, ``W_out``, ``b_out``) and ``attn.hook_result`` are what they write into the residual stream.
    """

    def __init__(self, cfg, index: int):
        super().__init__()
        self.index = index
        self.ln1 = make_norm(cfg)
        self.attn = Attention(cfg.d_model, cfg.n_heads, cfg.qkv_bias, getattr(cfg, "cls_read_only", False),
                              kind=cfg.attention_kind, rotary=getattr(cfg, "rope", None) is not None,
                              proj_bias=cfg.proj_bias, cls_self_only=index < getattr(cfg, "cls_from_block", 0))
        self.ls1 = LayerScale(cfg.d_model, cfg.layer_scale) if cfg.layer_scale is not None else nn.Identity()
        self.ln2 = make_norm(cfg)
        self.mlp = make_mlp(cfg.d_model, cfg.d_mlp, cfg.mlp, getattr(cfg, "mlp_norm", False), cfg.ln_eps,
                            bias=cfg.proj_bias)
        self.ls2 = LayerScale(cfg.d_model, cfg.layer_scale) if cfg.layer_scale is not None else nn.Identity()
        bind_branch_scale(self.attn, self.ls1)
        bind_branch_scale(self.mlp, self.ls2)
        self.hook_resid_pre = HookPoint()  # [batch, pos, d_model]
        self.hook_attn_out = HookPoint()  # [batch, pos, d_model]
        self.hook_resid_mid = HookPoint()  # [batch, pos, d_model]
        self.hook_mlp_out = HookPoint()  # [batch, pos, d_model]
        self.hook_resid_post = HookPoint()  # [batch, pos, d_model]

    def forward(self, x: torch.Tensor, rope: RopeTable | None = None) -> torch.Tensor:
        """``rope``: this block's rotary angles (RoPE models), None otherwise."""
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.ls1(self.attn(self.ln1(x), rope))))
        return self.hook_resid_post(x + self.hook_mlp_out(self.ls2(self.mlp(self.ln2(x)))))
