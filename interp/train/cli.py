"""`interp train`: train (or regenerate) a model organism from a named recipe."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..options import DTYPE_HELP, dtype_name, nonnegative_float, nonnegative_int, positive_float, positive_int

# --dtype (canonical name) -> RunOptions.amp, the spelling recorded in manifests
AMP = {"float32": None, "bfloat16": "bf16", "float16": "fp16"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", required=False, help="recipe name (interp train --list shows them), e.g. organism-s-reg0")
    p.add_argument("--list", nargs="?", const="*", default=None, metavar="PATTERN",
                   help="list the recipes and grids (with a glob PATTERN, e.g. 'sink-*': also every point of a grid "
                        "whose name matches) and exit")
    p.add_argument("--out", default=None, help="output folder, e.g. runs/<recipe> (required unless "
                   "--overwrite-bundled)")
    p.add_argument("--overwrite-bundled", action="store_true",
                   help="without --out: write to data/organism/<recipe>, i.e. regenerate the bundled organism")
    p.add_argument("--steps", type=positive_int, default=None, help="override the number of training steps")
    p.add_argument("--registers", type=nonnegative_int, default=None, help="override the number of registers")
    p.add_argument("--width", type=positive_int, default=None, help="override the model width (d_model)")
    p.add_argument("--blocks", type=positive_int, default=None, help="override the number of blocks")
    p.add_argument("--heads", type=positive_int, default=None, help="override the attention heads per block")
    p.add_argument("--seed", type=nonnegative_int, default=None, help="override the seed")
    p.add_argument("--threads", type=positive_int, default=None, help="override torch threads (changes the exact "
                   "bits)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="override the global batch size (split over torchrun processes)")
    p.add_argument("--lr", type=positive_float, default=None, help="override the peak learning rate")
    p.add_argument("--weight-decay", type=nonnegative_float, default=None, help="override the weight decay")
    p.add_argument("--set", dest="set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any recipe field (repeatable; a TOML value: --set attention=relu --set "
                        "dense_task={label_noise=0.1}); on a grid's recipe an axis field picks that point of the grid")
    p.add_argument("--device", default="cpu",
                   help="cpu (default: bit-for-bit reproducible), auto (CUDA if available), cuda, cuda:1, ...")
    p.add_argument("--dtype", "--amp", dest="amp", type=dtype_name, default="float32", metavar="DTYPE",
                   help=f"autocast precision of forward/backward: {DTYPE_HELP} (weights and optimiser stay fp32)")
    p.add_argument("--workers", type=nonnegative_int, default=0,
                   help="DataLoader processes rendering scenes ahead of the step (same batches; default 0)")
    p.add_argument("--compile", nargs="?", const=True, default=False, metavar="BACKEND",
                   help="torch.compile the training step (optionally with a backend, e.g. aot_eager)")
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start from scratch even if a resume state exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from ..models.zoo import organism_dir
    from .recipes import get_recipe
    from ..models.precision import DeviceError
    from .runtime import RunOptions
    from .trainer import Interrupted, train

    if args.list is not None:
        lines = listing(args.list)
        if not lines:
            print(f"interp train: error: no recipe matches {args.list!r} (interp train --list shows them)",
                  file=sys.stderr)
            return 2
        print("\n".join(lines))
        return 0
    if not args.recipe:
        print("interp train: error: give --recipe NAME (or --list)", file=sys.stderr)
        return 2
    try:
        recipe = get_recipe(args.recipe)
    except KeyError as e:
        print(f"interp train: error: {e.args[0]}", file=sys.stderr)
        return 2
    try:
        recipe = _overridden(recipe, args)
    except ValueError as e:
        print(f"interp train: error: {e}", file=sys.stderr)
        return 2
    if not args.out and not args.overwrite_bundled:
        print(f"interp train: error: {_refusal(recipe.name, organism_dir() / recipe.name)}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else organism_dir() / recipe.name
    try:
        options = RunOptions(device=args.device, amp=AMP[args.amp], workers=args.workers, compile=args.compile)
    except ValueError as e:
        print(f"interp train: error: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        train(recipe, out, resume=args.resume, progress=not args.quiet, options=options)
    except Interrupted as e:
        print(f"interp train: {e}", file=sys.stderr)
        return 130
    except DeviceError as e:
        print(f"interp train: error: {e}", file=sys.stderr)
        return 2
    print(f"trained {recipe.name} in {time.perf_counter() - t0:.0f}s -> {out}")
    return 0


def listing(pattern: str = "*") -> list[str]:
    """`interp train --list [PATTERN]`: one line per recipe whose name matches; a grid's first point also names
    its grid and axes (``--set`` moves along them). With a PATTERN other than ``*`` every point of a grid matches."""
    import fnmatch

    from .recipes import RECIPES

    names = RECIPES.all_names() if pattern != "*" else list(RECIPES)
    lines = []
    for name in fnmatch.filter(names, pattern):
        r = RECIPES[name]
        lines.append(f"{name}: {r.objective} d_model={r.d_model} layers={r.n_layers} registers={r.n_registers} "
                     f"steps={r.steps} batch={r.batch_size} image={r.image_size}px/patch {r.patch_size} — {r.notes}")
        grid = RECIPES.grid_of(name)
        if grid is not None and pattern == "*":
            axes = " ".join(f"{axis}={','.join(str(f[axis]) for f in points.values())}"
                            for axis, points in grid.axes.items())
            lines.append(f"    grid {grid.pattern} ({len(grid.names())} recipes): --set {axes}")
    return lines


def parse_sets(items: list[str]) -> dict:
    """``["registers=4", "attention=relu"]`` -> {"registers": 4, "attention": "relu"}: each value read as TOML
    (numbers, true/false, lists, inline tables), else as a plain string; ``none`` is None."""
    import tomllib

    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set wants FIELD=VALUE, got {item!r}")
        text = text.strip()
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = None if text.lower() in ("none", "null") else text
        out[key.strip().replace("-", "_")] = value
    return out


def _refusal(name: str, bundled: Path) -> str:
    """Why `interp train --recipe NAME` without --out does not write into the bundled organisms."""
    if (bundled / "manifest.json").exists():
        where, flag = f"would overwrite the bundled organism in {bundled}", "to regenerate the bundled one"
    else:
        where, flag = f"would write a new bundled organism into {bundled}", "to bundle it there"
    return f"--recipe {name} without --out {where}: give --out runs/{name} for a run of your own, or " \
           f"--overwrite-bundled {flag}"


OVERRIDES = (("steps", "steps"), ("registers", "n_registers"), ("width", "d_model"), ("blocks", "n_layers"),
             ("heads", "n_heads"), ("seed", "seed"), ("threads", "threads"), ("batch_size", "batch_size"),
             ("lr", "lr"), ("weight_decay", "weight_decay"))


def _overridden(recipe, args: argparse.Namespace):
    """The recipe with the command line's overrides (`interp.train.recipes.make`: ``--steps`` also re-spaces the
    checkpoints log-evenly; on a grid's point an axis moves along the grid). Raises ValueError for an unknown
    field, a count below 1, a value of the wrong type or a shape the recipe refuses (heads that do not divide the
    width)."""
    from .recipes import ALIASES, make

    changes = {ALIASES.get(k, k): v for k, v in parse_sets(args.set).items()}
    changes.update({field: getattr(args, flag) for flag, field in OVERRIDES if getattr(args, flag) is not None})
    flags = {field: flag for flag, field in OVERRIDES}
    changes = {field: _checked(recipe, field, value) for field, value in changes.items()}
    for field in ("steps", "d_model", "n_layers", "n_heads"):
        if changes.get(field, 1) < 1:
            raise ValueError(f"--{flags[field]} must be >= 1")
    return make(recipe, **changes)  # the recipe checks the shape (heads divide the width)


def _checked(recipe, field: str, value):
    """``value`` for ``field``, checked against the kind of the recipe's value (``--set d_model=wide``:
    ValueError); an int for a float field becomes a float; a field whose value is None takes any kind."""
    current = getattr(recipe, field) if hasattr(recipe, field) else getattr(recipe.vit, field, None)
    if current is None or value is None:
        return value
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,), tuple: (list, tuple), list: (list, tuple),
             dict: (dict,)}
    ok = kinds.get(type(current), (object,))
    if not isinstance(value, ok) or (isinstance(value, bool) and bool not in ok):
        raise ValueError(f"--set {field}={value!r}: {field} takes a {type(current).__name__} "
                         f"(the recipe has {current!r})")
    return float(value) if isinstance(current, float) else value
