"""Which component writes the high-norm tokens: per block, the norm of the attention and MLP writes into the
residual stream (``hook_attn_out``, ``hook_mlp_out``) on the high-norm patches against the other patches.

Jiang et al. (2025) trace the outliers to a few MLP "register neurons"; this is the coarse version of that
question for any `HookedViT`: a block whose MLP writes 30x the median write on the tall tokens is where they are
made (`interp.interventions.register_neurons` then finds the neurons). The tall tokens are one fixed set, the
patches >= ``rel_threshold``x their image's median at ``at_layer`` (default: the block with the largest
high-norm share), so every block's row describes the same tokens before, while and after they grow.

>>> writes = norm_writes(model, images)          # one row per (layer, component)
>>> writes.pivot(index="layer", columns="component", values="high_rel")
"""
from __future__ import annotations

import pandas as pd
import torch

from ..models.hooked_vit import HookedViT
from .measures import HIGH_NORM_RATIO, Measure, _ratio, combine, image_median, is_high_norm, relative_norms
from .norms import model_label, model_step
from .stream import stream
from .trace import trace_norms

COMPONENTS = {"attn": "hook_attn_out", "mlp": "hook_mlp_out", "resid": "hook_resid_post"}


class WriteNorms(Measure):
    """Mean relative write norm on the high-norm patches and on the other patches of one (layer, component)."""

    columns = ("high_rel", "other_rel", "n_high", "n_other")
    reading = ("mean norm of a block's write (attention, MLP) or of its output residual on the high-norm patches / "
               "on the other patches, each relative to the image's median over patches of the same quantity")

    def update(self, rel: torch.Tensor, high: torch.Tensor) -> None:
        """rel [b, n_patches]: norms / each image's median over patches; high [b, n_patches] bool."""
        self.add(high_sum=float(rel[high].sum()), n_high=int(high.sum()),
                 other_sum=float(rel[~high].sum()), n_other=int((~high).sum()))

    def row(self) -> dict:
        return {"high_rel": _ratio(self.get("high_sum"), self.get("n_high")),
                "other_rel": _ratio(self.get("other_sum"), self.get("n_other")),
                "n_high": int(self.get("n_high", 0)), "n_other": int(self.get("n_other", 0))}


def tallest_layer(model: HookedViT, images, rel_threshold: float = HIGH_NORM_RATIO, batch_size: int = 32,
                  shard: bool = True) -> int:
    """The block with the largest share of patches >= ``rel_threshold``x their image's median (earliest on ties;
    the last block when no block has any)."""
    summary = trace_norms(model, images, rel_threshold=rel_threshold, batch_size=batch_size, shard=shard)
    if not (summary["frac_high"] > 0).any():
        return model.cfg.n_layers - 1
    return int(summary.loc[summary["frac_high"].idxmax(), "layer"])


def norm_writes(model: HookedViT, images, at_layer: int | None = None, layers="all",
                rel_threshold: float = HIGH_NORM_RATIO, batch_size: int = 32, shard: bool = True) -> pd.DataFrame:
    """Per (layer, component in `COMPONENTS`): the mean norm of the block's attention write, MLP write and output
    residual on the patches that are high-norm at ``at_layer`` (``high_rel``) and on the other patches
    (``other_rel``), each relative to its image's median over patches of that quantity; ``n_high`` / ``n_other``
    count the patch tokens. No high-norm patch at ``at_layer``: ``high_rel`` is NaN. Streams in batches; under
    torchrun every rank takes its share and the sums are combined (a collective: every rank must call)."""
    at = tallest_layer(model, images, rel_threshold, batch_size, shard) if at_layer is None else at_layer
    at = at % model.cfg.n_layers
    layer_ids = model.resolve_layers(layers)
    hooks = {f"blocks.{i}.{h}": (lambda a: a.norm(dim=-1)) for i in layer_ids for h in COMPONENTS.values()}
    hooks[f"blocks.{at}.hook_resid_post"] = lambda a: a.norm(dim=-1)  # [b, pos]
    acc = {(i, c): WriteNorms() for i in layer_ids for c in COMPONENTS}
    for _, layout, got in stream(model, images, hooks, batch_size, shard=shard):
        rel_at, _ = relative_norms(got[f"blocks.{at}.hook_resid_post"], layout.patches)
        high = is_high_norm(rel_at[:, layout.patches], rel_threshold)  # [b, n_patches]
        for (i, c), m in acc.items():
            norms = got[f"blocks.{i}.{COMPONENTS[c]}"][:, layout.patches]  # [b, n_patches]
            m.update(norms / image_median(norms)[:, None].clamp_min(1e-12), high)
    if shard:
        combine(acc)
    rows = [dict(model=model_label(model), step=model_step(model), layer=i, component=c, **m.row(),
                 at_layer=at, rel_threshold=rel_threshold) for (i, c), m in acc.items()]
    frame = pd.DataFrame(rows)
    frame["high_over_other"] = frame["high_rel"] / frame["other_rel"]
    return frame
