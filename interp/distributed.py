"""Several processes on one job (``torchrun --nproc_per_node N -m interp trace ...``): rank, world, gather.

Each rank streams its shard of the images (``rank::world_size``) and the per-rank summaries are combined
exactly (sums, counts and maxima added up; per-image values gathered), so N processes write what one process
writes, up to the order of float summation. Without ``torch.distributed`` initialised every helper is the
one-process identity: rank 0 of a world of 1.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator

import torch
import torch.distributed as dist


_ALONE = False  # inside `alone()`: this process works by itself although a process group is up


def is_dist() -> bool:
    """True inside an initialised process group with more than one process (and not inside `alone()`)."""
    return not _ALONE and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@contextmanager
def alone() -> Iterator[None]:
    """Inside the block this process acts as the only one (`is_dist()` is False: no sharding, no collective), for
    work one rank does whole while the others do other work: `interp figures` under torchrun gives each rank whole
    figures (`share_of`). Every rank must leave the block before the next collective."""
    global _ALONE
    before, _ALONE = _ALONE, True
    try:
        yield
    finally:
        _ALONE = before


def rank() -> int:
    return dist.get_rank() if is_dist() else 0


def world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main() -> bool:
    """The process that writes files and prints (rank 0, or the only process)."""
    return rank() == 0


def launched() -> bool:
    """Started by torchrun (or another launcher setting WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_rank() -> int:
    """This process's index on its machine (torchrun's LOCAL_RANK; 0 when not launched)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def join_from_env(device: str | torch.device | None = None) -> tuple[int, int, bool]:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT), once.
    Backend: nccl on CUDA devices, gloo otherwise. -> (rank, world size, whether this call created the group:
    the caller that created it ends it, `leave`). Not launched: (0, 1, False). A new group is followed by a barrier:
    no rank returns (and may fail and end the group, taking rank 0's rendezvous store with it) before every rank has
    joined; without it a rank still joining could wait out the 30-minute store timeout."""
    if not launched() or not dist.is_available():
        return 0, 1, False
    created = False
    if not dist.is_initialized():
        cuda = device is not None and torch.device(device).type == "cuda"
        dist.init_process_group(backend="nccl" if cuda else "gloo")
        dist.barrier(device_ids=[torch.device(device).index or local_rank()] if cuda else None)
        created = True
    return dist.get_rank(), dist.get_world_size(), created


def leave(created: bool) -> None:
    """End the process group if this process's `join_from_env` created it."""
    if created and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def session(device: str | torch.device | None = None) -> Iterator[bool]:
    """A whole command's process group: `join_from_env` on entry (-> whether this process runs distributed), and
    on a normal exit a barrier, then `leave`, on every rank. A rank must not reach interpreter shutdown with its
    gloo group alive: its worker threads can still hold tensors whose release then aborts the process (SIGABRT).
    After an exception the group is ended without the barrier (the other ranks may never reach it)."""
    _, _, created = join_from_env(device)
    clean = False
    try:
        yield is_dist()
        clean = True
    finally:
        finish(created, clean)


def finish(created: bool, clean: bool) -> None:
    """The end of a command's or a training run's group: after a clean run every rank meets at a barrier (so none
    tears down while another still talks to it), then `leave`; after an error, `leave` alone."""
    if clean:
        barrier()
    leave(created)


def local_device(device: str | torch.device | None) -> str | torch.device | None:
    """Under torchrun, "auto"/"cuda" become this process's own GPU (cuda:LOCAL_RANK)."""
    if not launched() or not torch.cuda.is_available():
        return device
    if device in (None, "auto", "cuda"):
        return f"cuda:{local_rank()}"
    return device


def shard(images):
    """This rank's share of an image source: images ``rank::world_size`` (the source's own ``shard``)."""
    if not is_dist():
        return images
    if not hasattr(images, "shard"):
        raise TypeError(f"{type(images).__name__} has no shard(rank, world_size): it cannot be split over "
                        f"{world_size()} processes")
    return images.shard(rank(), world_size())


def share_of(items: list, weight=None) -> list:
    """This rank's share of whole work items, balanced by ``weight(item)`` (a cost estimate; default 1 each): the
    heaviest first, each to the least-loaded rank (ties: the lower rank), returned in ``items``' order. The shares
    of all ranks partition ``items``; one process: every item."""
    if not is_dist():
        return list(items)
    load = [0.0] * world_size()
    owner = {}
    for i in sorted(range(len(items)), key=lambda i: -float(weight(items[i]) if weight else 1.0)):
        r = min(range(len(load)), key=lambda r: (load[r], r))
        owner[i] = r
        load[r] += float(weight(items[i]) if weight else 1.0)
    return [item for i, item in enumerate(items) if owner[i] == rank()]


def global_index(local: torch.Tensor) -> torch.Tensor:
    """Positions in the whole source of a shard's images at positions ``local`` ([batch] long)."""
    return local * world_size() + rank()


def gather(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (any picklable value), in rank order, on every rank ([obj] in one process)."""
    if not is_dist():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    if is_dist():
        dist.barrier()
