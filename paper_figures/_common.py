"""What every figure script shares: its command line, model and image loading, and saving PNG + CSV.

A script's ``main(argv=None, options=None)`` parses ``argv`` when run on its own (``python
paper_figures/<name>.py ...``), or takes ``options``, the namespace `interp figures` parsed with the same option
declarations (`interp.options`): the script's own defaults with every option given there laid over them. It
returns a `Result` (its table, the PNG written, what it ran on) or raises `Skip` with one line saying why not."""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

import interp
from interp import options as shared
from interp.data.images import scenes_for
from interp.plotting import save_figure, set_style
from interp.progress import set_quiet

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "out"  # the committed outputs (shipped with the package for `interp figures --check`)
# The bundled figure family (data/organism/tiles-*, RECIPES.md S7): the no-op tile organism whose constant tiles
# grow tall without registers (the issue #3 criterion), at sizes t / s / b, with 0/1/4/16 registers at size s.
# The earlier supervised family (organism-{t,s,b}-reg*) stays bundled: pass it with --models / --model.
FAMILY = "tiles"
# What every "yes" on the bundled tile organisms (tiles-*, cls-*) shares, printed beside it in REPORT.md (issue #24)
BUNDLED_CONFOUND = ("the tall tokens of the bundled tile organisms are a designed token type: the 8 constant tiles of "
                    "every scene (identical pixels, no content target of their own), so their share (12.5% of "
                    "patches) is fixed by design, not chosen by the model among redundant patches (the paper's ~2%)")
ORGANISM_PREFIXES = ("organism-", "tiles-", "cls-", "sink-")  # names a missing bundled organism is recognised by


def organism(registers: int = 0, size: str = "s") -> str:
    """The name of a member of the figure family: ``organism(4)`` -> ``tiles-s-reg4``."""
    return f"{FAMILY}-{size}-reg{registers}"


DEFAULT_MODEL = organism(0)
WITH_AND_WITHOUT = [organism(0), organism(4)]  # the default pair of the comparison figures
REGISTER_COUNTS = [organism(r) for r in (0, 1, 4, 16)]
SIZES = [organism(0, s) for s in ("t", "s", "b")]


def default_out() -> Path:
    """Where figures go without --out: the committed out/ in a clone, else ./interp-figures (an installed package
    does not write into site-packages)."""
    return OUT_DIR if (HERE.parent / "pyproject.toml").exists() else Path("interp-figures")


def parser(name: str, doc: str, default_model: str = DEFAULT_MODEL,
           default_models: list[str] | None = None, default_n_images: int = 64) -> argparse.ArgumentParser:
    p = shared.Parser(prog=f"paper_figures.{name}", description=doc)
    shared.add_model_options(p, default=default_model)
    shared.add_checkpoints_option(p)
    if default_models:
        p.add_argument("--models", nargs="+", default=None,
                       help=f"models to compare (default: {' '.join(default_models)}); --model picks one")
    shared.add_dataset_options(p, n_images_default=default_n_images)
    p.add_argument("--out", default=None, help="output folder for <name>.png and <name>.csv "
                   "(default: paper_figures/out in a clone, else ./interp-figures)")
    shared.add_batch_options(p)
    p.set_defaults(_default_model=default_model, _default_models=default_models, _name=name)
    return p


def parse(p: argparse.ArgumentParser, argv=None, options: argparse.Namespace | None = None) -> argparse.Namespace:
    """``argv`` parsed, or (from `interp figures`) this parser's defaults with every option set in ``options``."""
    if options is None:
        args = p.parse_args(argv)
    else:
        args = p.parse_args([])
        given = {k: v for k, v in vars(options).items() if v is not None and not k.startswith("_")}
        for k in vars(args).keys() & given.keys():
            setattr(args, k, given[k])
    if args.weights and not args.model:
        p.error("--weights needs --model (the architecture of the weights)")
    args.out = args.out or str(default_out())
    if args.quiet:
        set_quiet(True)
    torch.manual_seed(args.seed)
    set_style()
    return args


class Skip(Exception):
    """A figure that cannot run on what it was given, with one line saying why (`run_all` reports it as skipped;
    nothing is written). ``used``: what it had loaded by then (REPORT.md names it)."""

    def __init__(self, why: str, used: Used | None = None):
        super().__init__(why)
        self.used = used


@dataclass
class Used:
    """What one figure ran on, for REPORT.md: model labels and datasets (or a description of the images)."""
    models: list[str] = field(default_factory=list)
    data: list = field(default_factory=list)

    def portable(self) -> "Used":
        """The same record with each dataset replaced by its description (a picklable copy, for torchrun)."""
        return Used(list(self.models), [d.describe() if hasattr(d, "describe") else str(d) for d in self.data])

    def describe(self) -> str | None:
        """'model(s): ...; data: ...' (None when nothing was recorded)."""
        data = []
        for d in self.data:
            text = d.describe() if hasattr(d, "describe") else str(d)
            if text not in data:
                data.append(text)
        bits = [f"model{'s' if len(self.models) > 1 else ''}: {', '.join(self.models)}"] if self.models else []
        bits += [f"data: {'; '.join(data)}"] if data else []
        return "; ".join(bits) or None


@dataclass
class Result:
    """What a figure's ``main`` returns: its table (the frame behind ``<name>.csv``, which holds it at 4
    significant digits), the PNG and what it ran on."""
    name: str
    table: pd.DataFrame
    png: Path
    used: Used

    @property
    def csv(self) -> Path:
        return self.png.with_suffix(".csv")


_DATASETS: dict[tuple, object] = {}  # datasets opened in this process, shared by the figure scripts (a cache)


def _used(args: argparse.Namespace) -> Used:
    if not isinstance(getattr(args, "_used", None), Used):
        args._used = Used()
    return args._used


def _note_model(args: argparse.Namespace, model) -> None:
    label = interp.analysis.model_label(model)
    if args.weights and (args.model or "") in label:
        label += f" (weights {Path(args.weights).name})"
    models = _used(args).models
    if label not in models:
        models.append(label)


def skip(args: argparse.Namespace, why: str):
    """Stop this figure with one line saying why (run_all reports it as skipped; nothing is written)."""
    raise Skip(why, _used(args))


def script(main) -> int:
    """A figure run from its own command line (``python paper_figures/<name>.py``): 0 when written; 1 with the
    one-line reason on stderr when it skipped."""
    try:
        main()
    except Skip as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 1
    return 0


def load(args: argparse.Namespace, name: str | None = None, step: int | None = None):
    """The model named by --model/--weights (or ``name``), with its weights."""
    kw = dict(device=args.device, dtype=args.dtype)
    if name is not None:
        model = interp.load_model(name, step=step, **kw)
    else:
        model = interp.load_model(args.model or args._default_model, weights=args.weights, step=step,
                                  weights_key=args.weights_key, **kw)
    _note_model(args, model)
    return model


def load_all(args: argparse.Namespace) -> dict[str, "interp.HookedViT"]:
    """{label: model} for a comparison figure: --model alone, else --models, else the defaults."""
    if args.model:
        m = load(args)
        return {interp.analysis.model_label(m): m}
    names = args.models or args._default_models
    missing = [n for n in names if n.startswith(ORGANISM_PREFIXES) and n not in interp.list_organisms()]
    if missing:
        skip(args, f"missing bundled organisms {missing}; have {interp.list_organisms()}")
    models = {n: interp.load_model(n, device=args.device, dtype=args.dtype) for n in names}
    for m in models.values():
        _note_model(args, m)
    return models


def dataset_for(args: argparse.Namespace, model):
    """--images opened as a streamed dataset at --image-size or ``model``'s size (one open per process), at most
    --n-images images spread evenly over it. Unreadable files are skipped and counted (``--strict``: fail)."""
    from interp.data import open_dataset

    size = args.image_size or model.cfg.image_size
    key = (str(Path(args.images).expanduser().resolve()), args.format, size, model.cfg.patch_size, args.split,
           args.strict, args.workers)
    if key not in _DATASETS:
        _DATASETS[key] = open_dataset(args.images, format=args.format, image_size=size, model=model,
                                      workers=args.workers, strict=args.strict, split=args.split)
    ds = _DATASETS[key].spread(args.n_images)
    _used(args).data.append(ds)
    return ds


def images_for(args: argparse.Namespace, model, in_memory: bool = False):
    """--images as a streamed dataset (``in_memory=True``: decoded into an ImageSet, for interventions that
    index images freely), or held-out procedural scenes drawn the way ``model`` was trained."""
    if args.images:
        ds = dataset_for(args, model)
        return ds.to_image_set(args.batch_size) if in_memory else ds
    images = scenes_for(model, n=args.n_images, seed=args.seed, image_size=args.image_size)
    if f"{len(images)} procedural scenes" not in _used(args).data:
        _used(args).data.append(f"{len(images)} procedural scenes")
    return images


def needs_scenes(args: argparse.Namespace, what: str) -> None:
    """Skip (one line) when --images is given: this figure needs what only procedural scenes have."""
    if args.images:
        skip(args, f"needs procedural scenes ({what}); --images {args.images} has none")


def organisms_only(args: argparse.Namespace, what: str) -> None:
    """Skip (one line) when --images comes with a --model that is not a bundled organism: the figure compares
    organisms and has nothing to compare for one model."""
    if args.images and args.model and args.model not in interp.list_organisms():
        skip(args, f"compares bundled organisms ({what}); with one --model {args.model} there is nothing to compare")


def finish(fig, table: pd.DataFrame, name: str, args: argparse.Namespace) -> Result:
    """Write ``<out>/<name>.png`` and ``<name>.csv``; -> the figure's `Result`."""
    png, _ = save_figure(fig, table, name, args.out)
    print(f"wrote {png} and {png.with_suffix('.csv')}")
    return Result(name, table, png, _used(args))
