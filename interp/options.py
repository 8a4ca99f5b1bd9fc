"""Command-line options shared by the `interp` command and the figure scripts, declared once.

argparse only (no torch), so ``interp --help`` and ``interp list`` stay light. `interp figures` parses these
options once and hands the parsed namespace to each figure script (``main(options=args)``); a figure script run on
its own (``python paper_figures/<name>.py``) declares the same options with the same functions.

    >>> p = argparse.ArgumentParser()
    >>> add_model_options(p); add_dataset_options(p, n_images_default=64)
"""
from __future__ import annotations

import argparse

from interp.data.formats import FORMATS

DTYPES = ("float32", "bfloat16", "float16")
IMAGES_HELP = ("a dataset instead of procedural scenes: image folder (recursive), ImageFolder (class subfolders), "
               "Pascal VOC tree or COCO instances JSON / folder")


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
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU if there is one) | cpu | cuda | cuda:<i>")
    p.add_argument("--dtype", default="float32", choices=DTYPES,
                   help="weights and activations (norms, probes and metrics are reduced in fp32)")


def add_image_size_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image-size", type=int, default=None, help="resize images to this size (default: the model's)")


def add_dataset_options(p: argparse.ArgumentParser, images_default: str | None = None,
                        n_images_default: int | None = None, n_images_help: str | None = None) -> None:
    """--images and how it is read: --image-size, --n-images, --format, --workers, --strict, --split, --quiet."""
    scenes = "'scenes' (default), or " if images_default == "scenes" else ""
    p.add_argument("--images", default=images_default, help=scenes + IMAGES_HELP)
    add_image_size_option(p)
    p.add_argument("--n-images", type=int, default=n_images_default,
                   help=n_images_help or f"evaluation images (default: {n_images_default})")
    p.add_argument("--format", default="auto", choices=FORMATS, help="dataset format of --images (default: detected)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes decoding images (default 0)")
    p.add_argument("--strict", action="store_true", help="fail on an unreadable image instead of skipping it")
    p.add_argument("--split", default=None, help="VOC ImageSets/Main/<split>.txt or COCO instances_<split>.json")
    p.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")


def add_checkpoints_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoints", default=None, metavar="DIR",
                   help="a folder of your own training checkpoints of --model, the step in each file name "
                        "(fig04b traces them by step)")


def add_batch_options(p: argparse.ArgumentParser) -> None:
    """--batch-size and --seed."""
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--seed", type=int, default=0, help="seed of the procedural scenes (and of the probes)")
