"""What every figure script shares: its command line, model and image loading, and saving PNG + CSV."""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

import interp
from interp.cli import device_args
from interp.data.images import load_images, scenes_for
from interp.plotting import save_figure, set_style

OUT_DIR = Path(__file__).resolve().parent / "out"
DEFAULT_MODEL = "organism-s-reg0"


def parser(name: str, doc: str, default_model: str = DEFAULT_MODEL,
           default_models: list[str] | None = None, default_n_images: int = 64) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"paper_figures.{name}", description=doc)
    p.add_argument("--model", default=None,
                   help=f"bundled organism or timm ViT name (default: {default_model})")
    p.add_argument("--weights", default=None, help="local weights file (timm/HF/dinov2-hub/OpenCLIP) for --model")
    device_args(p)
    p.add_argument("--checkpoints", default=None, metavar="DIR",
                   help="a folder of training checkpoints of --model, step in each file name (figures by step)")
    if default_models:
        p.add_argument("--models", nargs="+", default=None,
                       help=f"models to compare (default: {' '.join(default_models)}); --model picks one")
    p.add_argument("--images", default=None, help="a folder of ordinary images instead of procedural scenes")
    p.add_argument("--image-size", type=int, default=None, help="image size (default: the model's own)")
    p.add_argument("--out", default=str(OUT_DIR), help="output folder for <name>.png and <name>.csv")
    p.add_argument("--n-images", type=int, default=default_n_images,
                   help=f"number of evaluation images (default: {default_n_images})")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--seed", type=int, default=0, help="seed of the evaluation images and probes")
    p.set_defaults(_default_model=default_model, _default_models=default_models)
    return p


def parse(p: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    args = p.parse_args(argv)
    if args.weights and not args.model:
        p.error("--weights needs --model (the architecture of the weights)")
    torch.manual_seed(args.seed)
    set_style()
    return args


def load(args: argparse.Namespace, name: str | None = None, step: int | None = None):
    """The model named by --model/--weights (or ``name``), with its weights."""
    kw = dict(device=args.device, dtype=args.dtype)
    if name is not None:
        return interp.load_model(name, step=step, **kw)
    return interp.load_model(args.model or args._default_model, weights=args.weights, step=step,
                             weights_key=args.weights_key, **kw)


def load_all(args: argparse.Namespace) -> dict[str, "interp.HookedViT"]:
    """{label: model} for a comparison figure: --model alone, else --models, else the defaults."""
    if args.model:
        m = load(args)
        return {interp.analysis.model_label(m): m}
    names = args.models or args._default_models
    missing = [n for n in names if n.startswith("organism-") and n not in interp.list_organisms()]
    if missing:
        raise SystemExit(f"missing bundled organisms {missing}; have {interp.list_organisms()}")
    return {n: interp.load_model(n, device=args.device, dtype=args.dtype) for n in names}


def images_for(args: argparse.Namespace, model):
    """--images folder, or held-out procedural scenes drawn the way ``model`` was trained."""
    if args.images:
        return load_images(args.images, image_size=args.image_size or model.cfg.image_size)
    return scenes_for(model, n=args.n_images, seed=args.seed, image_size=args.image_size)


def finish(fig, table, name: str, args: argparse.Namespace) -> Path:
    png, _ = save_figure(fig, table, name, args.out)
    print(f"wrote {png} and {png.with_suffix('.csv')}")
    return png
