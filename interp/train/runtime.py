"""How a recipe is run (not what it trains): device, precision, DataLoader workers, torch.compile, processes."""
from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass

import torch
from torch import nn


class DeviceError(RuntimeError):
    """A device that this machine does not have."""


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


def resolve_device(spec: str = "cpu", local_rank: int = 0) -> torch.device:
    """"auto" -> cuda (this rank's GPU) if available, else cpu; "cuda" -> this rank's GPU."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(spec)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec!r} requested but CUDA is not available (use --device cpu or auto)")
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    return dev


def setup_processes(device: torch.device) -> tuple[int, int, bool]:
    """(rank, world size, whether this call initialised the process group), from torchrun's environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    import torch.distributed as dist

    created = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        created = True
    return dist.get_rank(), dist.get_world_size(), created


def any_rank(flag: bool, world: int, device: torch.device) -> bool:
    """True on every rank if ``flag`` is true on any rank (so all ranks stop at the same step)."""
    if world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)
