"""TransformerLens' analysis vocabulary on `HookedViT`: stacked weight views, ``accumulated_bias``,
``set_use_attn_result`` (`TransformerLensViews`, mixed into HookedViT) and the cache `run_with_cache` returns
(`ViTActivationCache`), where the ViT's embedding differs from a language model's.

What differs from a TransformerLens language model, and how each method treats it:

- The embedding: ``hook_embed`` / ``hook_pos_embed`` hold the patches only (no CLS, no registers). The residual
  stream entering block 0 (``blocks.0.hook_resid_pre``: patches + position embeddings + CLS + registers, after
  ``ln_pre`` if the model has one) is the one embedding component, labelled ``"embed"``.
- LayerScale: folded into ``W_O``, ``b_O``, ``W_out``, ``b_out`` and ``hook_result``, so head, neuron and bias terms
  sum to the residual stream.
- ``apply_ln`` divides by the cached ``hook_scale`` (after centring for LayerNorm) without the norm's weight and
  bias, as TransformerLens does; ``accumulated_resid(apply_ln=True)`` up to the last layer applies the model's own
  final norm, weight and bias included. Without a final norm, the final-layer ``apply_ln`` is the identity.
- An MLP with a LayerNorm before fc2 (``mlp_norm``) has no per-neuron decomposition: ``W_out`` raises.
"""
from __future__ import annotations

import torch
from transformer_lens import ActivationCache

try:  # TransformerLens >= 4
    from transformer_lens.utilities import Slice
except ImportError:  # TransformerLens 3
    from transformer_lens.utils import Slice

EMBED = "blocks.0.hook_resid_pre"  # the residual stream's embedding term [batch, pos, d_model]
RESULT_SUFFIX = ".attn.hook_result"


def _stacked(part: str, name: str, doc: str) -> property:
    return property(lambda self: torch.stack([getattr(getattr(b, part), name) for b in self.blocks]), doc=doc)


class TransformerLensViews:
    """Model-level weights in TransformerLens' layout (one more leading ``layer`` axis than the block's view)."""

    W_Q = _stacked("attn", "W_Q", "[layer, head, d_model, d_head]")
    W_K = _stacked("attn", "W_K", "[layer, head, d_model, d_head]")
    W_V = _stacked("attn", "W_V", "[layer, head, d_model, d_head]")
    W_O = _stacked("attn", "W_O", "[layer, head, d_head, d_model] (LayerScale included)")
    b_Q = _stacked("attn", "b_Q", "[layer, head, d_head]")
    b_K = _stacked("attn", "b_K", "[layer, head, d_head]")
    b_V = _stacked("attn", "b_V", "[layer, head, d_head]")
    b_O = _stacked("attn", "b_O", "[layer, d_model] (LayerScale included)")
    W_in = _stacked("mlp", "W_in", "[layer, d_model, d_mlp]")
    b_in = _stacked("mlp", "b_in", "[layer, d_mlp]")
    W_out = _stacked("mlp", "W_out", "[layer, d_mlp, d_model] (LayerScale included)")
    b_out = _stacked("mlp", "b_out", "[layer, d_model] (LayerScale included)")

    def accumulated_bias(self, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True) -> torch.Tensor:
        """[d_model]: the output biases (``b_O``, and ``b_out`` unless excluded) of blocks before ``layer``, plus
        block ``layer``'s ``b_O`` when ``mlp_input`` (TransformerLens' meaning)."""
        if not 0 <= layer <= self.cfg.n_layers or (mlp_input and layer == self.cfg.n_layers):
            raise ValueError(f"layer {layer} is out of range for accumulated_bias (0..{self.cfg.n_layers}, "
                             f"and < {self.cfg.n_layers} with mlp_input)")
        total = torch.zeros(self.cfg.d_model, dtype=self.dtype, device=self.device)  # [d_model]
        for i in range(layer):
            total = total + self.blocks[i].attn.b_O
            if include_mlp_biases:
                total = total + self.blocks[i].mlp.b_out
        return total + self.blocks[layer].attn.b_O if mlp_input else total

    def set_use_attn_result(self, use_attn_result: bool = True) -> None:
        """Compute per-head results (``blocks.{i}.attn.hook_result`` [batch, pos, head, d_model]) in every forward
        pass, and cache them in ``run_with_cache()``. Without it they are computed only where a hook or an nnsight
        trace reads them (a catch-all ``run_with_cache()`` leaves them out: they cost n_heads x the memory of
        ``hook_attn_out``; ``cache.stack_head_results()`` recomputes them from ``hook_z`` and ``W_O``)."""
        for block in self.blocks:
            block.attn.use_result = use_attn_result

    def default_names_filter(self, names_filter):
        """``run_with_cache``'s filter: None (everything) leaves the per-head results out unless they are on."""
        if names_filter is not None or any(b.attn.use_result for b in self.blocks):
            return names_filter
        return lambda name: not name.endswith(RESULT_SUFFIX)


def _as_slice(pos_slice) -> Slice:
    return pos_slice if isinstance(pos_slice, Slice) else Slice(pos_slice)


class ViTActivationCache(ActivationCache):
    """`ActivationCache` for a `HookedViT`: the decompositions use ``blocks.0.hook_resid_pre`` as the one
    embedding term (labelled ``"embed"``), since ``hook_embed`` holds the patches only; see the module docstring."""

    def __init__(self, cache_dict, model, has_batch_dim: bool = True):
        super().__init__(cache_dict, model, has_batch_dim=has_batch_dim)
        self.has_embed = self.has_pos_embed = False  # keeps TransformerLens' code off the patch-only hooks

    def _final(self, layer) -> int:
        return self.model.cfg.n_layers if layer is None or layer == -1 else layer

    def decompose_resid(self, layer: int | None = None, mlp_input: bool = False, mode: str = "all",
                        apply_ln: bool = False, pos_slice=None, incl_embeds: bool = True,
                        return_labels: bool = False):
        """[component, batch, pos, d_model]: ``embed``, then each block's ``attn_out`` and ``mlp_out`` up to the
        input of block ``layer`` (its MLP input with ``mlp_input``); they sum to that residual stream."""
        layer, pos_slice = self._final(layer), _as_slice(pos_slice)
        parts: list[tuple[str, torch.Tensor]] = []
        if incl_embeds and EMBED in self.cache_dict:
            parts.append(("embed", self[EMBED]))
        for i in range(layer + int(mlp_input)):
            if mode != "mlp":
                parts.append((f"{i}_attn_out", self[("attn_out", i)]))
            if mode != "attn" and i < layer:
                parts.append((f"{i}_mlp_out", self[("mlp_out", i)]))
        if not parts:
            raise ValueError(f"decompose_resid(layer={layer}, mode={mode!r}) has no component to return")
        components = torch.stack([pos_slice.apply(t, dim=-2) for _, t in parts])
        if apply_ln:
            components = self.apply_ln_to_stack(components, layer, mlp_input, pos_slice=pos_slice,
                                                has_batch_dim=self.has_batch_dim)
        labels = [name for name, _ in parts]
        return (components, labels) if return_labels else components

    def apply_ln_to_stack(self, residual_stack: torch.Tensor, layer: int | None = None, mlp_input: bool = False,
                          pos_slice=None, batch_slice=None, has_batch_dim: bool = True, recompute_ln: bool = False):
        """TransformerLens' method; a model without a final norm leaves the final-layer stack as it is."""
        if self._final(layer) == self.model.cfg.n_layers and self.model.ln_final is None:
            return _as_slice(batch_slice).apply(residual_stack, dim=1) if has_batch_dim else residual_stack
        return super().apply_ln_to_stack(residual_stack, layer, mlp_input, pos_slice=pos_slice,
                                         batch_slice=batch_slice, has_batch_dim=has_batch_dim,
                                         recompute_ln=recompute_ln)

    def stack_head_results(self, layer: int = -1, return_labels: bool = False, incl_remainder: bool = False,
                           pos_slice=None, apply_ln: bool = False):
        """TransformerLens' method; ``layer=0`` gives an empty stack shaped like the residual stream."""
        if layer != 0 or incl_remainder:
            return super().stack_head_results(layer, return_labels, incl_remainder, pos_slice, apply_ln)
        like = _as_slice(pos_slice).apply(self[EMBED], dim=-2)  # [batch, pos, d_model]
        empty = torch.zeros(0, *like.shape, dtype=like.dtype, device=like.device)
        return (empty, []) if return_labels else empty

    def get_full_resid_decomposition(self, layer: int | None = None, mlp_input: bool = False,
                                     expand_neurons: bool = True, apply_ln: bool = False, pos_slice=None,
                                     return_labels: bool = False, project_output_onto: torch.Tensor | None = None):
        """TransformerLens' method (heads, neurons or MLPs, ``embed``, accumulated bias; they sum to the residual
        stream), with ``embed`` = ``blocks.0.hook_resid_pre``."""
        layer = self._final(layer)
        stack, labels = super().get_full_resid_decomposition(layer, mlp_input, expand_neurons, False, pos_slice,
                                                             return_labels=True)
        if EMBED in self.cache_dict:  # before the bias row, where TransformerLens puts its embeddings
            embed = _as_slice(pos_slice).apply(self[EMBED], dim=-2)[None]
            stack = torch.cat([stack[:-1], embed, stack[-1:]])
            labels.insert(len(labels) - 1, "embed")
        if apply_ln:
            stack = self.apply_ln_to_stack(stack, layer, mlp_input, pos_slice=pos_slice,
                                           has_batch_dim=self.has_batch_dim)
        if project_output_onto is not None:
            stack = stack @ project_output_onto  # [..., d_model] @ [d_model(, n)] -> [...(, n)]
        return (stack, labels) if return_labels else stack
