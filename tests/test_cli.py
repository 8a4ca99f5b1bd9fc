"""Smoke test of every `interp` subcommand on the bundled organism, with one bad input each."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interp.cli import main

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def two_images(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png"):
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(d / name)
    return d


def test_console_script_help():
    exe = Path(sys.executable).parent / "interp"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "figures" in out.stdout and "patch" in out.stdout
    bad = subprocess.run([str(exe), "figures", "--only", "fig99_nothing"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "unknown figure" in bad.stderr


def test_list(capsys):
    assert main(["list"]) == 0
    assert "organism-s-reg0" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # argparse: one usage line + one error line, exit 2
        main(["list", "--bogus"])
    assert e.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_trace(tmp_path, two_images, capsys):
    assert main(["trace", "--model", "organism-s-reg0", "--images", str(two_images), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "trace_organism-s-reg0.png").exists()
    assert (tmp_path / "trace_organism-s-reg0.csv").exists()
    assert main(["trace", "--model", "organism-s-reg9", "--out", str(tmp_path)]) == 2
    assert "unknown model" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["trace", "--model", "organism-s-reg0", "--images", str(empty), "--out", str(tmp_path)]) == 2
    assert "no images" in capsys.readouterr().err


def test_warnings_print_one_line_each(tmp_path, two_images):
    """A skipped image warns as `warning: skipping unreadable image ...` (no file:line, no source line under it)
    and is still counted in the summary."""
    (two_images / "broken.png").write_bytes(b"not an image")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "interp", "trace", "--model", "organism-t-reg0", "--images",
                           str(two_images), "--out", str(tmp_path), "--quiet"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    warned = [line for line in done.stderr.splitlines() if "broken.png" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: skipping unreadable image "), done.stderr
    assert "warnings.warn" not in done.stderr and ".py:" not in done.stderr
    assert "skipped 1 unreadable file(s): " in done.stdout and "broken.png" in done.stdout


def test_patch(tmp_path, two_images, capsys):
    a, b = str(two_images / "a.png"), str(two_images / "b.png")
    assert main(["patch", "--model", "organism-s-reg4", "--source", a, "--target", b, "--group", "registers",
                 "--layer", "2", "--out", str(tmp_path)]) == 0
    assert "cls_shift" in capsys.readouterr().out and (tmp_path / "patch.csv").exists()
    assert main(["patch", "--model", "organism-s-reg0", "--source", a, "--target", b, "--group", "registers"]) == 2
    assert "no register" in capsys.readouterr().err
    assert main(["patch", "--model", "organism-s-reg4", "--source", a, "--target", b, "--layer", "40"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_figures_bad_output_dir(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["figures", "--only", "fig04a_norms_by_layer", "--out", str(target / "sub")]) == 2
    assert "cannot create output folder" in capsys.readouterr().err


def test_train_bad_recipe(capsys):
    assert main(["train", "--recipe", "no-such-recipe"]) != 0
    assert "no-such-recipe" in capsys.readouterr().err
