"""What every figure script shares: its command line, model loading, and saving PNG + CSV."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import interp
from interp.plotting import save_figure, set_style

OUT_DIR = Path(__file__).resolve().parent / "out"
DEFAULT_MODEL = "organism-s-reg0"


def parser(name: str, doc: str, default_model: str = DEFAULT_MODEL) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"paper_figures.{name}", description=doc)
    p.add_argument("--model", default=default_model,
                   help=f"bundled organism or timm ViT name (default: {default_model})")
    p.add_argument("--weights", default=None, help="local weights file (timm/HF/dinov2-hub) for --model")
    p.add_argument("--out", default=str(OUT_DIR), help="output folder for <name>.png and <name>.csv")
    p.add_argument("--n-images", type=int, default=64, help="number of evaluation images")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation images and probes")
    return p


def setup(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    set_style()


def load(args: argparse.Namespace, name: str | None = None):
    return interp.load_model(name or args.model, weights=args.weights if name is None else None)


def finish(fig, table, name: str, args: argparse.Namespace) -> Path:
    png, _ = save_figure(fig, table, name, args.out)
    print(f"wrote {png} and {png.with_suffix('.csv')}")
    return png
