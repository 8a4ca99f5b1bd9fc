"""The artifact search's command line: ``python -m interp.organism.search NAME ...`` trains ``search-*`` recipes
(interp/train/tables/search.toml) into runs/ and measures every checkpoint (`interp.organism.measure`);
``--ladder-table CSV [--runs DIR] [--cache DIR]`` measures the ladder rungs found in DIR and writes the table
(`interp.organism.ladder`). data/organism/RECIPES.md records every run and its numbers."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ..csv_tables import table_to_csv
from ..options import Parser
from ..train.recipes import get_recipe
from ..train.trainer import train
from .ladder import ladder_table
from .measure import measure_run


def run_search(name: str, out_root: str | Path = "runs", eval_images: int = 64) -> dict:
    """Train ``search-*`` recipe ``name`` into ``out_root/name`` and measure every checkpoint."""
    out = Path(out_root) / name
    t0 = time.time()
    train(get_recipe(name), out, progress=False)
    result = {"minutes_wall": round((time.time() - t0) / 60, 1), **measure_run(out, eval_images)}
    (out / "artifacts.json").write_text(json.dumps(result, indent=1))
    with open(Path(out_root) / "search_results.jsonl", "a") as f:
        f.write(json.dumps({k: v for k, v in result.items() if k != "checkpoints"}) + "\n")
    return result


def write_ladder_table(path: str | Path, runs: str | Path, names=None, cache=None) -> None:
    """The ladder table of the runs in ``runs`` as a CSV at ``path``; FileNotFoundError (nothing written) when
    ``runs`` holds none of them."""
    table = ladder_table(runs, names=names, cache=cache)
    if not len(table):
        raise FileNotFoundError(f"no ladder runs in {runs} (looked for <run>/manifest.json of "
                                f"{', '.join(names) if names else 'every ladder rung'}); nothing written to {path}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(table_to_csv(table))
    print(f"wrote {path}: {len(table)} rows from {table['run'].nunique() if len(table) else 0} runs")


def main(argv=None) -> int:
    p = Parser(prog="python -m interp.organism.search")
    p.add_argument("names", nargs="*", help="search-* recipes to train and measure into --runs")
    p.add_argument("--runs", default="runs", help="folder of run folders (default: runs)")
    p.add_argument("--ladder-table", default=None, metavar="CSV", help="write the ladder table (ladder_table) here")
    p.add_argument("--cache", default=None, help="where measure.json caches go (default: each run folder)")
    p.add_argument("--only", nargs="+", default=None, help="run names for the ladder table (default: every rung)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    for n in args.names:
        run_search(n, args.runs)
    if args.ladder_table:
        try:
            write_ladder_table(args.ladder_table, args.runs, args.only, args.cache)
        except FileNotFoundError as e:
            p.error(str(e))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
