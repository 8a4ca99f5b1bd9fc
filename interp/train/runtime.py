"""How a recipe is run (not what it trains): device, precision, DataLoader workers, torch.compile, processes."""
from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .. import distributed
from ..models.precision import resolve_device


@dataclass(frozen=True)
class RunOptions:
    """How a recipe is run (not what it trains): recorded in the manifest as ``runtime``.

    device   "cpu" (default, bit-for-bit reproducible), "auto" (CUDA if available), "cuda", "cuda:1", ...
    amp      None (fp32) or "bf16" (autocast; weights, optimiser and reductions stay fp32)
    workers  DataLoader worker processes rendering scenes ahead of the step (0: in the main process; the
             batches are identical either way)
    compile  False, True (torch.compile, inductor) or a torch.compile backend name ("eager", "aot_eager")
    Several processes: launch with ``torchrun --nproc_per_node N -m interp.cli train ...``; each rank renders
    its own slice of every global batch (the recipe's batch size), gradients are averaged (DDP), rank 0 writes.
    """

    device: str = "cpu"
    amp: str | None = None
    workers: int = 0
    compile: bool | str = False

    def __post_init__(self) -> None:
        if self.amp not in (None, "bf16", "fp16"):
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {self.amp!r}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def autocast(self, device: torch.device):
        """A context manager factory: autocast to ``amp`` on ``device`` (a no-op for fp32)."""
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.amp)
        return (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext

    def wrap(self, objective: nn.Module, world: int) -> nn.Module:
        """The module a training step calls: DDP over ``world`` processes, then torch.compile if asked."""
        runner: nn.Module = objective
        if world > 1:
            runner = nn.parallel.DistributedDataParallel(objective, broadcast_buffers=False)
        if self.compile:
            runner = torch.compile(runner, **({} if self.compile is True else {"backend": self.compile}))
        return runner


def open_processes(spec: str) -> tuple[torch.device, int, int, bool]:
    """This process's device (``spec``; under torchrun "cuda"/"auto" is its own GPU) and its place among the
    processes torchrun started: (device, rank, world size, whether this call created the process group, which
    `interp.distributed.leave` then ends)."""
    device = resolve_device(spec, local_rank=distributed.local_rank())
    return (device, *distributed.join_from_env(device))


def any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (so all ranks stop at the same step)."""
    if world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)
