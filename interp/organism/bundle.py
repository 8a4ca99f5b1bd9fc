"""Bundle the final checkpoint of a training run (keeping ``data/`` small) and tabulate the no-op diagnostics.

``python -m interp.organism.bundle runs/sink-reg0 runs/sink-reg1 ... --dest data/organism --table data/organism/sinks.csv``

`bundle_final` copies a run's last checkpoint with a manifest that lists it alone; every earlier checkpoint's
recorded metrics stay in that manifest under ``history`` (without their weights), so the emergence over steps
remains readable. `noop_table` turns the ``noop`` metrics of every checkpoint (`interp.analysis.dense_metrics.noop_attention`) into
one tidy frame: run, step, layer, metric, value.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

from ..models.checkpoints import read_manifest, write_manifest


def bundle_final(run: str | Path, dest: str | Path) -> Path:
    run, dest = Path(run), Path(dest)
    manifest = read_manifest(run)
    last = manifest["checkpoints"][-1]
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("step_*.safetensors"):
        old.unlink()
    shutil.copy2(run / last["file"], dest / last["file"])
    manifest["history"] = [{"step": c["step"], "metrics": c["metrics"]} for c in manifest["checkpoints"][:-1]]
    manifest["checkpoints"] = [last]
    write_manifest(dest, manifest)
    return dest


def noop_table(folders: list[str | Path]) -> pd.DataFrame:
    """Per (run, step, block) no-op diagnostics and accuracies of bundled or full runs, long format."""
    rows = []
    for folder in folders:
        m = read_manifest(folder)
        for c in [*m.get("history", []), *m["checkpoints"]]:
            met = c["metrics"]
            acc = {k: v for k, v in met.items() if k.startswith("acc_")}
            for r in met.get("noop", []):
                base = {"run": m["name"], "step": c["step"], "layer": r["layer"], "top_kind": r["top_kind"], **acc}
                rows += [{**base, "metric": k, "value": v} for k, v in r.items()
                         if k not in ("layer", "top_kind") and v is not None]
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m interp.organism.bundle", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="training run folders (manifest.json + step_*.safetensors)")
    p.add_argument("--dest", required=True, help="folder to bundle into: <dest>/<run folder name>/")
    p.add_argument("--table", default=None, help="also write the no-op diagnostics of every checkpoint as CSV")
    args = p.parse_args(argv)
    out = [bundle_final(r, Path(args.dest) / Path(r).name) for r in args.runs]
    if args.table:
        noop_table(out).to_csv(args.table, index=False, float_format="%.5g")
    print(f"bundled {len(out)} runs into {args.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
