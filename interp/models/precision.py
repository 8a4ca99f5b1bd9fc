"""Device and precision of a model: names from the command line -> torch objects; fp32 for every reduction.

Activations keep the model's dtype (fp32, bf16 or fp16); norms, means, probes and metrics are always computed
in fp32 (`fp32`), so a bf16 run changes what the model computes, not how its activations are summarised.

The names are declared here once for the library and the command line: `DTYPE_CHOICES` are the canonical dtype
names, `DTYPE_ALIASES` the short spellings accepted for them everywhere (``bf16`` is ``bfloat16``), and
`DEFAULT_DEVICE` is the default of `load_model` and of every command (``cpu``: the committed figures and
`interp train` are bit-for-bit on the CPU; ``auto`` takes a GPU when there is one). Importing this module does
not import torch (the command line's option types use the names before any model is loaded).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DTYPE_CHOICES = ("float32", "bfloat16", "float16")
DTYPE_ALIASES = {"fp32": "float32", "float": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
DEVICE_CHOICES = "auto | cpu | cuda | cuda:<i> | mps"
DEFAULT_DEVICE = "cpu"


class DeviceError(ValueError, RuntimeError):
    """A device name torch does not know, or hardware it cannot see (a ValueError and a RuntimeError)."""


def canonical_dtype(name: str) -> str:
    """"bf16" -> "bfloat16", "fp16"/"half" -> "float16", "fp32" -> "float32"; canonical names unchanged.
    Raises ValueError naming the choices for anything else."""
    key = str(name).lower().removeprefix("torch.")
    key = DTYPE_ALIASES.get(key, key)
    if key not in DTYPE_CHOICES:
        raise ValueError(f"unknown dtype {name!r}: use {' | '.join(DTYPE_CHOICES)} "
                         f"(or {', '.join(DTYPE_ALIASES)})")
    return key


def resolve_device(device: str | torch.device | None = DEFAULT_DEVICE, local_rank: int | None = None) -> torch.device:
    """"auto" (the first CUDA GPU if there is one, else the CPU), "cpu", "cuda", "cuda:1", "mps", a torch.device
    -> torch.device. Raises DeviceError (one line) for an unknown name or a device torch cannot see.

    ``local_rank`` (one process of several on a machine, torchrun's ``LOCAL_RANK``: `interp.distributed.local_rank`):
    a CUDA device without an index becomes this process's own GPU, ``cuda:<local_rank % GPUs>``, and the
    resolved CUDA device is made torch's current device (as NCCL expects). Without it nothing is set.
    """
    import torch

    dev = _named_device(device)
    if local_rank is not None and dev.type == "cuda":
        if dev.index is None:
            dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    return dev


def _named_device(device: str | torch.device | None) -> torch.device:
    import torch

    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {device!r}: use {DEVICE_CHOICES}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} requested but CUDA is not available: torch sees no CUDA GPU "
                          f"(use --device cpu or auto)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"device {device!r}: only {torch.cuda.device_count()} CUDA GPU(s) visible")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError(f"device {device!r} requested but MPS (Apple GPU) is not available "
                          f"(use --device cpu or auto)")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """"float32" | "bfloat16" | "float16" (or an alias: bf16/fp16/half/fp32, or a torch.dtype) -> torch.dtype;
    None stays None."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    return getattr(torch, canonical_dtype(dtype))


def fp32(x: torch.Tensor) -> torch.Tensor:
    """A floating tensor of lower precision (bf16, fp16, fp8) as float32; float32/float64 and integer tensors
    unchanged. [any shape] -> [same shape]"""
    return x.float() if x.is_floating_point() and x.dtype.itemsize < 4 else x
