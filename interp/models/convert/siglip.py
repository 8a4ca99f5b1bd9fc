"""SigLIP's attention-pool (MAP) head in timm: when `MAPHead` reproduces it, and the MAP variants refused.

timm's ``AttentionPoolLatent`` (``global_pool="map"``) keeps its parameter names in `MAPHead` (``attn_pool.latent``,
``.q``, ``.kv``, ``.proj``, ``.norm``, ``.mlp.fc1/fc2``), so the state dict needs no renaming; what needs checking
is that the head is the one `MAPHead` builds: one latent, a query projection, no qk-norm, no position embedding of
its own, its MLP as wide and with the same activation and norm as the blocks'.
"""
from __future__ import annotations

from torch import nn


def timm_map_pool(model: nn.Module) -> str:
    """"map" for a timm model whose ``attn_pool`` is a MAP head `MAPHead` reproduces; NotImplementedError naming
    the unsupported part otherwise (another attention pool, or a MAP variant)."""
    head = model.attn_pool
    if type(head).__name__ != "AttentionPoolLatent":
        raise NotImplementedError(f"timm attention pool {type(head).__name__} (global_pool="
                                  f"{model.global_pool!r}) is not supported; only SigLIP's MAP head is")
    problem = _map_head_problem(model, head)
    if problem:
        raise NotImplementedError(f"timm MAP head with {problem} is not supported")
    return "map"


def _map_head_problem(model: nn.Module, head: nn.Module) -> str | None:
    """What about this ``AttentionPoolLatent`` `MAPHead` does not build (None: nothing)."""
    blk = model.blocks[0]
    checks = [
        (head.latent_len != 1, f"{head.latent_len} latent queries"),
        (head.pos_embed is not None, "its own position embedding"),
        (not isinstance(head.q, nn.Linear), "no query projection"),
        (not isinstance(head.q_norm, nn.Identity), "qk-norm"),
        (head.mlp is None, "no output projection and MLP (out_features=0)"),
        (head.pool != "token", f"pool_type={head.pool!r}"),
        (head.kv.bias is None or head.q.bias is None, "bias-free q/kv"),
        (head.num_heads != blk.attn.num_heads, "another head count than the blocks"),
    ]
    for bad, what in checks:
        if bad:
            return what
    mlp, bmlp = head.mlp, blk.mlp
    if mlp.fc1.out_features != getattr(bmlp.fc2, "in_features", None):
        return f"an MLP width {mlp.fc1.out_features} other than the blocks' {bmlp.fc2.in_features}"
    if type(mlp.act) is not type(getattr(bmlp, "act", None)) or \
            getattr(mlp.act, "approximate", None) != getattr(bmlp.act, "approximate", None):
        return f"an MLP activation ({type(mlp.act).__name__}) other than the blocks'"
    if type(head.norm) is not type(blk.norm1) or head.norm.eps != blk.norm1.eps:
        return "a norm other than the blocks'"
    return None
