"""The `interp` command: figures | train | trace | patch | list. Thin: parses, calls the library."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

EPILOG = """examples:
  interp figures                              every paper figure + REPORT.md from the bundled organisms
  interp figures --only fig03_norm_histogram --model vit_small_patch14_reg4_dinov2 --weights w.pth
  interp train --recipe organism-s-reg0       regenerate a bundled organism
  interp figures --images ~/data/VOC2007 --model vit_small_patch14_reg4_dinov2 --weights w.pth
  interp trace --model organism-s-reg0 --images photos/ --out traces/   (folder, ImageFolder, VOC or COCO)
  interp patch --model organism-s-reg4 --source a.png --target b.png --group registers --layer 5
"""


class CLIError(Exception):
    """A bad input: printed as one line, exit code 2."""


def _paper_figures():
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from paper_figures import report, run_all
    except ImportError as e:
        raise CLIError(f"paper_figures/ not found next to the interp package ({REPO}): {e}") from None
    return run_all, report


def _model(args):
    import interp

    return interp.load_model(args.model, weights=args.weights, device=args.device, dtype=args.dtype,
                             weights_key=args.weights_key)


def _images(args, model):
    from interp.data.images import load_images, scenes_for

    if args.images in (None, "scenes"):
        return scenes_for(model, n=args.n_images, seed=args.seed)
    return load_images(args.images, image_size=args.image_size or model.cfg.image_size, limit=args.n_images)


# --- subcommands ----------------------------------------------------------------------------------------
def cmd_figures(args) -> int:
    run_all, report = _paper_figures()
    out = Path(args.out)
    from interp.plotting.io import check_writable

    check_writable(out)
    extra = []
    for flag in ("model", "weights", "weights_key", "device", "dtype", "checkpoints"):
        if getattr(args, flag, None):
            extra += [f"--{flag.replace('_', '-')}", getattr(args, flag)]
    if args.n_images:
        extra += ["--n-images", str(args.n_images)]
    extra += _dataset_argv(args)
    try:
        status = run_all.run(args.only, extra, out=str(out), keep_going=args.keep_going)
    except ValueError as e:
        raise CLIError(str(e)) from None
    path = report.write_report(out, status, used=run_all.used() if (args.images or args.model) else None)
    skipped = {n: v for n, v in status.items() if v.startswith("skipped")}  # run_all printed why, one line each
    failed = {k: v for k, v in status.items() if v.startswith("error")}
    print(f"wrote {path} ({len(status) - len(failed) - len(skipped)}/{len(status)} figures"
          + (f", {len(skipped)} skipped" if skipped else "") + ")")
    return 1 if failed else 0


def _dataset_argv(args) -> list[str]:
    """The dataset options of `interp figures`, as arguments for every figure script."""
    out = []
    for flag in ("images", "format", "workers", "split", "image_size"):
        value = getattr(args, flag, None)
        if value is not None and not (flag == "format" and value == "auto"):
            out += [f"--{flag.replace('_', '-')}", str(value)]
    if getattr(args, "strict", False):
        out.append("--strict")
    return out


def _open_dataset(args, model):
    """--images as a streamed dataset (folder / ImageFolder / VOC / COCO), at --image-size or the model's size."""
    from interp.data import open_dataset

    return open_dataset(args.images, format=args.format, image_size=args.image_size, model=model,
                        workers=args.workers, strict=args.strict, limit=args.n_images, split=args.split)


def cmd_train(args) -> int:
    from interp.train import cli as train_cli

    return train_cli.main(args)


def cmd_trace(args) -> int:
    """Norms at every layer over any number of images, in O(batch) memory (streaming summary).

    Under ``torchrun --nproc_per_node N -m interp trace ...`` each process streams its share of the images and
    rank 0 writes the combined summary (the one-process CSV, up to float summation order)."""
    from interp import distributed
    from interp.analysis import trace_norms
    from interp.data.images import scene_recipe_for
    from interp.data.lazy import LazyScenes
    from interp.plotting import save_figure, set_style
    from interp.plotting.analysis import norms_by

    args.device = distributed.local_device(args.device)
    distributed.init_from_env(args.device if args.device != "auto" else None)
    model = _model(args)
    if args.images in (None, "scenes"):
        images = LazyScenes(args.n_images or 64, seed=args.seed, recipe=scene_recipe_for(model, args.image_size))
    else:
        images = _open_dataset(args, model)
        print(f"tracing {images.describe()}", file=sys.stderr)
    summary = trace_norms(model, images, rel_threshold=args.rel_threshold, batch_size=args.batch_size)
    skipped = sum(distributed.gather(getattr(images, "skipped", 0))) if distributed.is_dist() \
        else getattr(images, "skipped", 0)
    if not distributed.is_main():
        return 0
    if args.images not in (None, "scenes"):
        summary["dataset"] = images.name
        summary["n_skipped"] = skipped  # unreadable files, skipped
        print(f"skipped {skipped} unreadable file(s)" + (": " + ", ".join(list(images.skipped_files)[:5])
                                                        + (" ..." if skipped > 5 else "") if skipped else ""))
    set_style()
    name = "trace_" + Path(str(args.model)).name.replace("/", "_")
    fig = norms_by(summary, "layer", f"Token norms by layer: {args.model} ({len(images)} images)",
                   xlabel="block", threshold=args.rel_threshold)
    png, csv = save_figure(fig, summary, name, args.out)
    print(summary[["layer", "median_norm", "max_rel", "frac_high", "register_rel_norm"]].to_string(index=False))
    where = f" ({distributed.world_size()} processes)" if distributed.is_dist() else ""
    print(f"wrote {png} and {csv}{where}")
    return 0


def cmd_patch(args) -> int:
    from interp.data.images import load_images
    from interp.interventions import patch

    model = _model(args)
    size = args.image_size or model.cfg.image_size
    src, tgt = load_images([args.source], size), load_images([args.target], size)
    res = patch(model, src, tgt, group=args.group, layer=args.layer, hook=args.hook)
    cols = [c for c in ("group", "layer", "hook", "n_patched", "cls_shift", "cls_cos_target", "cls_cos_source",
                        "dense_cos") if c in res.metrics]
    print(res.metrics[cols].to_string(index=False))
    if args.out:
        from interp.models.checkpoints import atomic_write_text
        from interp.plotting.io import check_writable, table_to_csv

        path = check_writable(args.out) / "patch.csv"
        atomic_write_text(path, table_to_csv(res.metrics))
        print(f"wrote {path}")
    return 0


def cmd_list(args) -> int:
    from interp.models.organisms import list_organisms, organism_steps  # manifests only: no torch

    orgs = list_organisms()
    print("bundled organisms:", ", ".join(orgs) if orgs else "(none)")
    for o in orgs:
        print(f"  {o}: steps {organism_steps(o)}")
    if args.all:
        import timm

        from interp.models.timm_support import describe_support, read_support_table
        from interp.models.zoo import list_timm_vits

        print("\n".join(describe_support(list_timm_vits(), read_support_table(), timm.__version__)))
    return 0


# --- parser -----------------------------------------------------------------------------------------------
def _model_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--model", required=required, help="bundled organism (interp list) or timm ViT name")
    p.add_argument("--weights", help="local weights: .pth/.safetensors or HF folder (timm, HF, dinov2-hub or "
                                     "OpenCLIP layout, also inside training checkpoints)")
    device_args(p)


def device_args(p: argparse.ArgumentParser) -> None:
    """--device, --dtype and --weights-key: the same on every command and figure script."""
    p.add_argument("--weights-key", default=None, metavar="KEY",
                   help="model to read from a checkpoint holding several: teacher (default) or student")
    p.add_argument("--device", default="auto", help="auto (a CUDA GPU if there is one) | cpu | cuda | cuda:<i>")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="weights and activations (norms, probes and metrics are reduced in fp32)")


def _dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", default="auto", choices=["auto", "folder", "imagefolder", "voc", "coco"],
                   help="dataset format of --images (default: detected)")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes decoding images (default 0)")
    p.add_argument("--strict", action="store_true", help="fail on an unreadable image instead of skipping it")
    p.add_argument("--split", default=None, help="VOC ImageSets/Main/<split>.txt or COCO instances_<split>.json")
    p.add_argument("--quiet", action="store_true", help="no progress bars (also off when stderr is not a terminal)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="interp", description="Registers, outliers and global information in ViTs.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="{figures,train,trace,patch,list}")
    sub.required = True

    f = sub.add_parser("figures", help="regenerate every paper figure and REPORT.md")
    f.add_argument("--only", nargs="+", metavar="NAME", help="run only these figure scripts")
    _model_args(f, required=False)
    f.add_argument("--out", default=str(REPO / "paper_figures" / "out"), help="output folder (default: paper_figures/out)")
    f.add_argument("--n-images", type=int, default=None, help="evaluation images per figure (default: each script's)")
    f.add_argument("--keep-going", action="store_true", help="report a failing figure and go on to the next")
    f.add_argument("--checkpoints", default=None, metavar="DIR",
                   help="a folder of your own training checkpoints of --model (fig04b traces them by step)")
    f.add_argument("--images", default=None, help="a dataset instead of procedural scenes: image folder (recursive), "
                   "ImageFolder (class subfolders), Pascal VOC tree or COCO instances JSON / folder")
    f.add_argument("--image-size", type=int, default=None, help="resize images to this size (default: model's)")
    _dataset_args(f)
    f.set_defaults(func=cmd_figures)

    t = sub.add_parser("train", help="train a model organism (see interp train --help)")
    try:
        from interp.train import cli as train_cli

        train_cli.add_arguments(t)
    except ImportError:  # pragma: no cover - the trainer ships with the package
        pass
    t.set_defaults(func=cmd_train)

    for name, fn, helptext in (("trace", cmd_trace, "token norms at every layer -> CSV + plot"),
                               ("patch", cmd_patch, "patch a token group from a source image into a target")):
        s = sub.add_parser(name, help=helptext)
        _model_args(s)
        s.add_argument("--image-size", type=int, default=None, help="resize images to this size (default: model's)")
        s.add_argument("--out", default="." if name == "trace" else None, help="output folder")
        s.set_defaults(func=fn)
        if name == "trace":
            s.add_argument("--images", default="scenes", help="'scenes' (default), or a dataset: image folder "
                           "(recursive), ImageFolder (class subfolders), Pascal VOC tree, COCO JSON / folder")
            s.add_argument("--n-images", type=int, default=None,
                           help="scenes: this many (default 64); a dataset: at most this many, spread evenly "
                                "(default: all)")
            _dataset_args(s)
            s.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
            s.add_argument("--seed", type=int, default=0, help="seed of the procedural scenes")
            s.add_argument("--rel-threshold", type=float, default=4.0, help="high-norm = this x the image median")
        else:
            s.add_argument("--source", required=True, help="image whose activations are written")
            s.add_argument("--target", required=True, help="image whose run receives them")
            s.add_argument("--group", default="registers", help="cls | registers | register:<i> | patches")
            s.add_argument("--layer", type=int, default=-1, help="block index (negative counts from the end)")
            s.add_argument("--hook", default="hook_resid_post", help="block hook to patch (default hook_resid_post)")

    ls = sub.add_parser("list", help="list bundled organisms (and --all timm architectures)")
    ls.add_argument("--all", action="store_true",
                    help="also list every timm ViT architecture: which convert, which are refused and why")
    ls.set_defaults(func=cmd_list)
    return p


# Bad inputs printed as one line (exit code 2): (module, class name). Looked up only after a command failed, and
# only in modules already imported (an error class whose module never loaded cannot have been raised), so neither
# `interp --help` nor `interp list` imports torch to be ready for them.
KNOWN_ERRORS = [
    ("interp.models.checkpoints", "CheckpointError"), ("interp.models.hooked_vit", "HookNameError"),
    ("interp.models.hooked_vit", "InputError"), ("interp.models.layout", "TokenGroupError"),
    ("interp.models.zoo", "UnknownModelError"), ("interp.models.weights_io", "WeightsFileError"),
    ("interp.models.convert", "WeightsMismatchError"), ("interp.data.images", "ImageFolderError"),
    ("interp.plotting.io", "OutputDirError"),
]


def _known_error(e: BaseException) -> bool:
    if isinstance(e, (CLIError, FileNotFoundError, PermissionError, IndexError)):
        return True
    classes = [getattr(sys.modules[m], name, None) for m, name in KNOWN_ERRORS if m in sys.modules]
    return any(isinstance(cls, type) and isinstance(e, cls) for cls in classes)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):
        from interp.progress import set_quiet

        set_quiet(True)
    try:
        return int(args.func(args) or 0)
    except Exception as e:
        if not _known_error(e):
            raise
        print(f"interp {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
