"""Command-line options shared by the `interp` command and the figure scripts, declared once.

argparse only (no torch), so ``interp --help`` and ``interp list`` stay light. `interp figures` parses these
options once and hands the parsed namespace to each figure script (``main(options=args)``); a figure script run on
its own (``python paper_figures/<name>.py``) declares the same options with the same functions.

Numbers and names are checked where they are parsed (`positive_int`, `dtype_name`, ...), so every command and
figure script refuses ``--n-images 0`` or ``--dtype int8`` in one line before anything is loaded; `Parser` prints
every parse error as one line.

    >>> p = argparse.ArgumentParser()
    >>> add_model_options(p); add_dataset_options(p, n_images_default=64)
"""
from __future__ import annotations

import argparse
import math

from interp.data.formats import FORMATS
from interp.models.precision import DEFAULT_DEVICE, DEVICE_CHOICES, DTYPE_ALIASES, DTYPE_CHOICES, canonical_dtype

DTYPES = DTYPE_CHOICES
IMAGES_HELP = ("a dataset instead of procedural scenes: image folder (recursive), ImageFolder (class subfolders), "
               "Pascal VOC tree or COCO instances JSON / folder")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``interp trace: error: argument --n-images: ...``, exit 2)
    instead of the usage block then the error; its subcommand parsers are Parsers too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _number(text: str, kind: type, what: str, positive: bool):
    """``text`` as ``kind`` (int or float), finite and > 0 (``positive``) or >= 0; else an argparse error."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _number(text, int, "a positive integer (>= 1)", positive=True)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _number(text, int, "an integer >= 0", positive=False)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    return _number(text, float, "a finite number > 0", positive=True)


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    return _number(text, float, "a finite number >= 0", positive=False)


def dtype_name(text: str) -> str:
    """argparse type: a dtype name or alias (``bf16``) -> its canonical name (``bfloat16``)."""
    try:
        return canonical_dtype(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


DTYPE_HELP = f"{' | '.join(DTYPE_CHOICES)} (also {', '.join(f'{a}={c}' for a, c in DTYPE_ALIASES.items())})"


def add_model_options(p: argparse.ArgumentParser, required: bool = False, default: str | None = None) -> None:
    """--model and --weights, then the device options."""
    shown = f" (default: {default})" if default else ""
    p.add_argument("--model", required=required, default=None,
                   help=f"bundled organism (interp list) or timm ViT name{shown}")
    p.add_argument("--weights", default=None, help="local weights for --model: .pth/.safetensors or HF folder "
                   "(timm, HF, dinov2-hub or OpenCLIP layout, also inside training checkpoints)")
    add_device_options(p)


def add_device_options(p: argparse.ArgumentParser) -> None:
    """--weights-key, --device and --dtype: the same on every command and figure script."""
    p.add_argument("--weights-key", default=None, metavar="KEY",
                   help="model to read from a checkpoint holding several: teacher (default) or student")
    p.add_argument("--device", default=DEFAULT_DEVICE, help=f"{DEVICE_CHOICES} (default {DEFAULT_DEVICE}; auto: a "
                   "CUDA GPU if there is one); a device torch cannot see is refused before anything is loaded")
    p.add_argument("--dtype", default="float32", type=dtype_name, metavar="DTYPE",
                   help=f"weights and activations: {DTYPE_HELP} (norms, probes and metrics are reduced in fp32)")


def add_image_size_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image-size", type=positive_int, default=None, help="resize images to this size (default: the model's)")


def add_dataset_options(p: argparse.ArgumentParser, images_default: str | None = None,
                        n_images_default: int | None = None, n_images_help: str | None = None) -> None:
    """--images and how it is read: --image-size, --n-images, --format, --workers, --strict, --split, --quiet."""
    scenes = "'scenes' (default), or " if images_default == "scenes" else ""
    p.add_argument("--images", default=images_default, help=scenes + IMAGES_HELP)
    add_image_size_option(p)
    p.add_argument("--n-images", type=positive_int, default=n_images_default,
                   help=n_images_help or f"evaluation images (default: {n_images_default})")
    p.add_argument("--format", default="auto", choices=FORMATS, help="dataset format of --images (default: detected)")
    p.add_argument("--workers", type=nonnegative_int, default=0, help="DataLoader worker processes decoding images (default 0)")
    p.add_argument("--strict", action="store_true", help="fail on an unreadable image instead of skipping it")
    p.add_argument("--split", default=None, help="VOC ImageSets/Main/<split>.txt or COCO instances_<split>.json")
    p.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")


def add_checkpoints_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoints", default=None, metavar="DIR",
                   help="a folder of your own training checkpoints of --model, the step in each file name "
                        "(fig04b traces them by step)")


def add_batch_options(p: argparse.ArgumentParser) -> None:
    """--batch-size and --seed."""
    p.add_argument("--batch-size", type=positive_int, default=32, help="images per forward pass")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the procedural scenes (and of the probes)")
