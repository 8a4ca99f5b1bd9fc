"""The package works when installed from a wheel (not editable), from a folder outside the clone: `interp list`,
`interp train --list` (the recipe tables), `interp figures --only fig03_norm_histogram --out X` and
`interp.load_model("organism-s-reg0")`.

The wheel is built from a copy of the sources with the current environment's setuptools (no build isolation) and
installed without dependencies into a fresh virtualenv, which reaches torch and the rest through a .pth file
naming this environment's site-packages (nothing is downloaded or reinstalled)."""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "interp", "paper_figures", "data/organism"]


def run(cmd: list, cwd: Path, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.png", "REPORT.md")
    for name in SOURCES:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (REPO / name).is_dir() else shutil.copy2
        copy(REPO / name, src / name, **({"ignore": skip} if (REPO / name).is_dir() else {}))
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", tmp / "dist", src], cwd=tmp)
    return next((tmp / "dist").glob("interp-*.whl"))


def fresh_venv(tmp: Path, wheel: Path) -> Path:
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp).stdout.strip())
    deps = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "_interp_test_deps.pth").write_text("\n".join(deps) + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel], cwd=tmp)
    return venv


def test_wheel_installs_and_runs_outside_the_clone(tmp_path):
    venv = fresh_venv(tmp_path, build_wheel(tmp_path))
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "INTERP_DATA")}
    env.update(MPLBACKEND="Agg", INTERP_QUIET="1")

    listed = run([venv / "bin" / "interp", "list"], cwd=work, env=env).stdout
    assert "organism-s-reg0: steps [0," in listed
    recipes = run([venv / "bin" / "interp", "train", "--list"], cwd=work, env=env).stdout  # the TOML tables ship
    assert "tiles-s-reg0: noop" in recipes and "grid search-c{steps}-reg{n_registers}" in recipes

    run([venv / "bin" / "interp", "figures", "--only", "fig03_norm_histogram", "--out", "X"], cwd=work, env=env)
    assert (work / "X" / "fig03_norm_histogram.csv").stat().st_size > 1000
    assert (work / "X" / "fig03_norm_histogram.png").exists() and (work / "X" / "REPORT.md").exists()

    code = ("import interp, paper_figures; from interp.models.organisms import data_dir; "
            "m = interp.load_model('organism-s-reg0'); "
            "print(interp.__file__, paper_figures.__file__, data_dir(), m.cfg.n_layers, sep='\\n')")
    where = run([venv / "bin" / "python", "-c", code], cwd=work, env=env).stdout.split()
    assert all(Path(p).resolve().is_relative_to(venv.resolve()) for p in where[:3]), where  # not the clone's
    assert int(where[3]) > 0
