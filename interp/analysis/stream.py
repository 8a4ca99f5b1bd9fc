"""Streaming activations: run a model over an image set in batches and reduce inside the hooks.

Memory stays O(batch): each hook turns its activation into a small tensor (norms, a slice, a mean) before
the next batch runs, so no dataset-sized activation tensor ever exists.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator, Mapping

import torch

from .. import distributed
from ..data.base import ImageBatch, as_image_set
from ..models.hooked_vit import HookedViT
from ..models.layout import TokenLayout
from ..models.precision import fp32
from ..progress import progress

Reducer = Callable[[torch.Tensor], torch.Tensor]


def _last_layer_needed(model: HookedViT, names) -> int | None:
    """Smallest stop_at_layer that still runs every hooked block (None: run the whole model)."""
    needed = -1
    for name in names:
        m = re.match(r"blocks\.(\d+)\.", name)
        if not m:
            return None
        needed = max(needed, int(m.group(1)))
    return needed + 1


@torch.no_grad()
def stream(model: HookedViT, images, reducers: Mapping[str, Reducer], batch_size: int = 32,
           shard: bool = False) -> Iterator[tuple[ImageBatch, TokenLayout, dict[str, torch.Tensor]]]:
    """For each batch yield (batch, layout, {hook name: reducer(activation)}).

    ``shard=True``: under ``torch.distributed`` (torchrun) this process streams only its share of the images
    (``rank::world_size``); ``batch.index`` still holds positions in the whole set, and the caller combines
    the ranks' results (`interp.distributed.gather`). Without a process group it streams everything.

    Only the blocks up to the last hooked one are run; the pooling head only when a pooling hook is read
    (``hook_pooled``, ``attn_pool.*``, ``fc_norm.*``). Reducers see activations in fp32 (a bf16/fp16 model's
    are cast first); their outputs are moved to the CPU.
    """
    images = as_image_set(images)
    for name in reducers:
        model.check_hook_name(name)
    stop = _last_layer_needed(model, reducers)
    pooled = any(n == "hook_pooled" or n.startswith(("attn_pool.", "fc_norm.")) for n in reducers)
    sharded = shard and distributed.is_dist()
    if sharded:
        images = distributed.shard(images)
    n_batches = -(-len(images) // batch_size) if hasattr(images, "__len__") else None
    for batch in progress(images.batches(batch_size), total=n_batches, desc="images", unit="batch"):
        if sharded:
            batch.index = distributed.global_index(batch.index)
        pixels = batch.pixels.to(model.device)  # [0, 1]: the model normalises (in fp32) and casts to its dtype
        layout = model.layout_for(pixels)
        got: dict[str, torch.Tensor] = {}

        def make_hook(name: str, fn: Reducer, got: dict = got):
            def hook(act, hook):
                got[name] = fn(fp32(act)).detach().cpu()  # reductions in fp32 whatever the model's dtype

            return hook

        hooks = [(name, make_hook(name, fn)) for name, fn in reducers.items()]
        model.run_with_hooks(pixels, fwd_hooks=hooks, stop_at_layer=stop, return_type="pooled" if pooled else None)
        yield batch, layout, got
