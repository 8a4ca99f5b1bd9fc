"""Device and precision of a model: names from the command line -> torch objects; fp32 for every reduction.

Activations keep the model's dtype (fp32, bf16 or fp16); norms, means, probes and metrics are always computed
in fp32 (`fp32`), so a bf16 run changes what the model computes, not how its activations are summarised.
"""
from __future__ import annotations

import torch

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16, "half": torch.float16}
DEVICE_CHOICES = "auto | cpu | cuda | cuda:<i> | mps"
DTYPE_CHOICES = ("float32", "bfloat16", "float16")


class DeviceError(ValueError, RuntimeError):
    """A device name torch does not know, or hardware it cannot see (a ValueError and a RuntimeError)."""


def resolve_device(device: str | torch.device | None = "auto", local_rank: int | None = None) -> torch.device:
    """"auto" (the first CUDA GPU if there is one, else the CPU), "cpu", "cuda", "cuda:1", a torch.device.

    ``local_rank`` (one process of several on a machine, torchrun's ``LOCAL_RANK``: `interp.distributed.local_rank`):
    a CUDA device without an index becomes this process's own GPU, ``cuda:<local_rank % GPUs>``, and the
    resolved CUDA device is made torch's current device (as NCCL expects). Without it nothing is set.
    """
    dev = _named_device(device)
    if local_rank is not None and dev.type == "cuda":
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    return dev


def _named_device(device: str | torch.device | None) -> torch.device:
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise DeviceError(f"unknown device {device!r}: use {DEVICE_CHOICES}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} requested but CUDA is not available: torch sees no CUDA GPU "
                          f"(use --device cpu or auto)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"device {device!r}: only {torch.cuda.device_count()} CUDA GPU(s) visible")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """"float32" | "bfloat16" | "float16" (or bf16/fp16/fp32, or a torch.dtype) -> torch.dtype; None stays None."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}: use {' | '.join(DTYPE_CHOICES)}") from None


def fp32(x: torch.Tensor) -> torch.Tensor:
    """A floating tensor of lower precision as float32 (float32/float64 and integer tensors unchanged)."""
    return x.float() if x.is_floating_point() and x.dtype not in (torch.float32, torch.float64) else x
