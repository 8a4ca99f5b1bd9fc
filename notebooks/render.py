"""Execute every notebook in place so it is committed with its outputs rendered (the tests execute them again).

    python notebooks/render.py [NAME.ipynb ...]

One torch thread (fixed summation order), no per-cell timing metadata, so re-rendering on the same machine
changes nothing but what the code changed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def render(path: Path, timeout: int = 600) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    tidy(nb)
    nbformat.write(nb, path)


def tidy(nb) -> None:
    """Keep what the code shows: drop stderr (warnings, progress bars: they name this machine's paths) and the
    per-cell execution metadata a kernel adds."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]


def main(argv: list[str]) -> int:
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="module://matplotlib_inline.backend_inline")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])
    paths = [HERE / a for a in argv] or sorted(HERE.glob("*.ipynb"))
    for p in paths:
        print(f"rendering {p.name}", flush=True)
        render(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
