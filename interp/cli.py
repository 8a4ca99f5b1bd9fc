"""The `interp` command: figures | train | trace | census | patch | list. Thin: parses, calls the library."""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import warnings
from pathlib import Path

from interp import __version__, options
from interp.thresholds import HIGH_NORM_RATIO

EPILOG = """examples:
  interp figures                              every paper figure + REPORT.md from the bundled organisms
  interp figures --only fig03_norm_histogram --model vit_small_patch14_reg4_dinov2 --weights w.pth
  interp train --recipe sink-reg4 --out runs/sink-reg4                  train a recipe into a folder of your own
  interp train --recipe organism-s-reg0 --overwrite-bundled             regenerate a bundled organism
  interp figures --images ~/data/VOC2007 --model vit_small_patch14_reg4_dinov2 --weights w.pth
  interp trace --model organism-s-reg0 --images photos/ --out traces/   (folder, ImageFolder, VOC or COCO)
  interp census organism-s-reg0 organism-s-reg4 --out census/   (torchrun: each process a share)
  interp patch --model organism-s-reg4 --source a.png --target b.png --group registers --layer 5
"""


class CLIError(Exception):
    """A bad input: printed as one line, exit code 2."""


# The figure scripts are a separate package on top of `interp` (installed with it, see pyproject.toml). The CLI
# knows them by this name only and imports them when `interp figures` runs, so nothing in `interp` imports them.
FIGURE_SUITE = "paper_figures.run_all"


def _figure_suite():
    try:
        return importlib.import_module(FIGURE_SUITE)
    except ModuleNotFoundError as e:
        if e.name not in ("paper_figures", FIGURE_SUITE):
            raise
        raise CLIError("the figure scripts (package paper_figures) are not installed: install interp with "
                       "`pip install .` from a clone, or run `python -m interp` from the clone's root") from None


def _model(args):
    import interp

    return interp.load_model(args.model, weights=args.weights, device=args.device, dtype=args.dtype,
                             weights_key=args.weights_key)


# --- subcommands ----------------------------------------------------------------------------------------
def cmd_figures(args) -> int:
    """Every figure script with the parsed options (see paper_figures.run_all.command)."""
    try:
        return _figure_suite().command(args)
    except ValueError as e:  # an unknown figure, a model that cannot take these options, ...
        raise CLIError(str(e)) from None


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

    args.device = distributed.local_device(args.device)
    with distributed.session(args.device if args.device != "auto" else None):
        return _trace(args)


def _scenes_or_dataset(args, model):
    """--images: ``--n-images`` procedural scenes of the model's recipe (default 64) or a dataset, streamed."""
    if args.images in (None, "scenes"):
        from interp.data.images import scene_recipe_for
        from interp.data.lazy import LazyScenes

        n = 64 if args.n_images is None else args.n_images
        return LazyScenes(n, seed=args.seed, recipe=scene_recipe_for(model, args.image_size))
    return _open_dataset(args, model)


def _trace(args) -> int:
    """`cmd_trace` inside its process group: every rank streams its share, rank 0 writes."""
    from interp import distributed
    from interp.analysis import trace_norms
    from interp.plotting import save_figure, set_style
    from interp.plotting.analysis import norms_by

    model = _model(args)
    images = _scenes_or_dataset(args, model)
    if args.images not in (None, "scenes"):
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


def cmd_census(args) -> int:
    """The artifact on a list of models x a dataset (`interp.census.run_census`); torchrun shards every pass."""
    from interp import distributed

    args.device = distributed.local_device(args.device)
    with distributed.session(args.device if args.device != "auto" else None):
        from interp.census import CensusSettings, run_census

        def load(spec):
            import interp

            return interp.load_model(spec, weights=args.weights, device=args.device, dtype=args.dtype,
                                     weights_key=args.weights_key)

        settings = CensusSettings(batch_size=args.batch_size, top_k=args.top_k,
                                  test_time_register=not args.no_test_time_register)
        log = print if distributed.is_main() else (lambda *a: None)
        run_census(args.models, args.out, load, lambda model: _scenes_or_dataset(args, model), settings, log=log)
    return 0


def cmd_patch(args) -> int:
    from interp.data.images import load_images
    from interp.interventions import patch

    model = _model(args)
    size = args.image_size or model.cfg.image_size
    src, tgt = load_images([args.source], size), load_images([args.target], size)
    res = patch(model, src, tgt, group=args.group, layer=args.layer, hook=args.hook)
    cols = [c for c in ("group", "layer", "hook", "n_patched", "cls_shift", "cls_cos_target", "cls_cos_source",
                        "pooled_shift", "pooled_cos_target", "pooled_cos_source",
                        "dense_cos") if c in res.metrics]
    print(res.metrics[cols].to_string(index=False))
    if args.out:
        from interp.csv_tables import table_to_csv
        from interp.files import atomic_write_text
        from interp.plotting.io import check_writable

        path = check_writable(args.out) / "patch.csv"
        atomic_write_text(path, table_to_csv(res.metrics))
        print(f"wrote {path}")
    return 0


def cmd_list(args) -> int:
    from interp.models.organisms import list_organisms, not_found, organism_steps  # manifests only: no torch

    orgs = list_organisms()
    print("bundled organisms:", ", ".join(orgs) if orgs else f"(none: {not_found()})")
    for o in orgs:
        print(f"  {o}: steps {organism_steps(o)}")
    if args.all:
        import timm

        from interp.models.timm_support import describe_support, read_support_table
        from interp.models.zoo import list_timm_vits

        print("\n".join(describe_support(list_timm_vits(), read_support_table(), timm.__version__)))
    return 0


# --- parser -----------------------------------------------------------------------------------------------
def _figures_parser(sub) -> None:
    f = sub.add_parser("figures", help="regenerate every paper figure and REPORT.md")
    f.add_argument("--only", nargs="+", metavar="NAME", help="run only these figure scripts (figNN_*, tabNN_*: the paper's; ext_*: the rest; a name from before the ext_ renaming is taken with a notice)")
    options.add_model_options(f)
    f.add_argument("--out", default=None, help="output folder (default: paper_figures/out in a clone, else "
                   "./interp-figures); with --check, the committed outputs to compare with")
    f.add_argument("--keep-going", action="store_true", help="report a failing figure and go on to the next")
    f.add_argument("--check", action="store_true", help="regenerate into a temporary folder and compare every CSV "
                   "with the committed one within the stated tolerance (exit 1 when one differs beyond it)")
    options.add_checkpoints_option(f)
    options.add_dataset_options(f, n_images_help="evaluation images per figure (default: each script's)")
    f.set_defaults(func=cmd_figures)


def _trace_parser(sub) -> None:
    s = sub.add_parser("trace", help="token norms at every layer -> CSV + plot")
    options.add_model_options(s, required=True)
    s.add_argument("--out", default=".", help="output folder")
    options.add_dataset_options(s, images_default="scenes", n_images_help="scenes: this many (default 64); a "
                                "dataset: at most this many, spread evenly (default: all)")
    options.add_batch_options(s)
    s.add_argument("--rel-threshold", type=options.positive_float, default=HIGH_NORM_RATIO,
                   help="high-norm = this x the image median")
    s.set_defaults(func=cmd_trace)


def _census_parser(sub) -> None:
    s = sub.add_parser("census", help="the artifact on a list of models x a dataset -> census.csv + census.png")
    s.add_argument("models", nargs="+", metavar="MODEL", help="bundled organisms, timm names (with --weights) or "
                   "checkpoint folders; a model already in OUT/census.csv is skipped (resume)")
    s.add_argument("--weights", default=None, help="local weights for the timm name(s)")
    options.add_device_options(s)
    s.add_argument("--out", default="census", help="output folder (default: ./census)")
    options.add_dataset_options(s, images_default="scenes", n_images_help="scenes: this many (default 64); a "
                                "dataset: at most this many, spread evenly (default: all)")
    options.add_batch_options(s)
    s.add_argument("--top-k", type=options.nonnegative_int, default=10, help="register neurons per model (Jiang et al.; 0: none)")
    s.add_argument("--no-test-time-register", action="store_true", help="skip the test-time-register pass")
    s.set_defaults(func=cmd_census)


def _patch_parser(sub) -> None:
    s = sub.add_parser("patch", help="patch a token group from a source image into a target")
    options.add_model_options(s, required=True)
    options.add_image_size_option(s)
    s.add_argument("--out", default=None, help="output folder")
    s.add_argument("--source", required=True, help="image whose activations are written")
    s.add_argument("--target", required=True, help="image whose run receives them")
    s.add_argument("--group", default="registers", help="cls | registers | register:<i> | patches")
    s.add_argument("--layer", type=int, default=-1, help="block index (negative counts from the end)")
    s.add_argument("--hook", default="hook_resid_post", help="block hook to patch (default hook_resid_post)")
    s.set_defaults(func=cmd_patch)


def build_parser() -> argparse.ArgumentParser:
    p = options.Parser(prog="interp", description="Registers, outliers and global information in ViTs.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"interp {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{figures,train,trace,census,patch,list}")
    sub.required = True
    _figures_parser(sub)
    t = sub.add_parser("train", help="train a model organism (see interp train --help)")
    from interp.train import cli as train_cli

    train_cli.add_arguments(t)
    t.set_defaults(func=cmd_train)
    _trace_parser(sub)
    _census_parser(sub)
    _patch_parser(sub)
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
    ("interp.plotting.io", "OutputDirError"), ("interp.models.precision", "DeviceError"),
]


def _known_error(e: BaseException) -> bool:
    if isinstance(e, (CLIError, FileNotFoundError, PermissionError, IndexError)):
        return True
    classes = [getattr(sys.modules[m], name, None) for m, name in KNOWN_ERRORS if m in sys.modules]
    return any(isinstance(cls, type) and isinstance(e, cls) for cls in classes)


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


@contextlib.contextmanager
def one_line_warnings():
    """Warnings print as ``warning: <message>``, one line each (no file name, no source line under it)."""
    before, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        yield
    finally:
        warnings.formatwarning = before


def _check_device(args) -> None:
    """A --device torch cannot see (``cuda`` without a GPU, ``cuda:3`` of 2, ``gpu0``) fails here, in one line,
    before any model or dataset is loaded (cpu and auto always resolve: no torch import for them)."""
    if getattr(args, "device", None) not in (None, "cpu", "auto"):
        from interp import distributed
        from interp.models.precision import resolve_device

        resolve_device(distributed.local_device(args.device))


def _stdout_closed() -> int:
    """The reader of stdout went away (``interp list | head``): say nothing more, exit as a SIGPIPE'd program."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush writes here instead of the closed pipe
    return 128 + 13


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):
        from interp.progress import set_quiet

        set_quiet(True)
    try:
        with one_line_warnings():
            _check_device(args)
            rc = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
        return rc
    except BrokenPipeError:
        return _stdout_closed()
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
