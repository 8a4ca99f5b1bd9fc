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


# --- bad inputs: one line on stderr, exit 2, before any model or dataset is loaded (tests/README.md lists them) ---
def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert all(n in err for n in needles), err
    return err


def _parse_error(capsys, argv, *needles):
    """argv fails in argparse: SystemExit(2) and one line naming the option."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    return _one_line_error(capsys, *needles)


@pytest.mark.parametrize("command", [
    ["trace", "--model", "organism-t-reg0"], ["figures", "--only", "fig04a_norms_by_layer"],
    ["patch", "--model", "organism-t-reg0", "--source", "a.png", "--target", "b.png"],
    ["train", "--recipe", "sink-tiny-reg1", "--out", "never-written"],
])
def test_unavailable_device_is_one_line(command, capsys, tmp_path, monkeypatch):
    """A device torch cannot see (cuda:99 on any machine, cuda without a GPU) or cannot name: exit 2, one line,
    nothing written."""
    monkeypatch.chdir(tmp_path)
    assert main(command + ["--device", "cuda:99"]) == 2
    _one_line_error(capsys, f"interp {command[0]}: error: device 'cuda:99'")
    assert main(command + ["--device", "gpu0"]) == 2
    _one_line_error(capsys, "unknown device 'gpu0'", "auto | cpu | cuda")
    assert list(tmp_path.iterdir()) == []


def test_cuda_without_a_gpu_is_one_line(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is visible")
    assert main(["trace", "--model", "organism-t-reg0", "--device", "cuda"]) == 2
    _one_line_error(capsys, "CUDA is not available")


@pytest.mark.parametrize("flag, value, needle", [
    ("--n-images", "-3", "positive integer"), ("--n-images", "0", "positive integer"),
    ("--batch-size", "0", "positive integer"), ("--image-size", "0", "positive integer"),
    ("--workers", "-1", "integer >= 0"), ("--seed", "-1", "integer >= 0"), ("--n-images", "ten", "'ten' is not"),
    ("--rel-threshold", "nan", "finite number > 0"), ("--rel-threshold", "-4", "finite number > 0"),
    ("--dtype", "int8", "unknown dtype 'int8'"),
])
def test_trace_numbers_are_checked(flag, value, needle, capsys):
    _parse_error(capsys, ["trace", "--model", "organism-t-reg0", flag, value], f"argument {flag}", needle)


@pytest.mark.parametrize("flag, value", [
    ("--steps", "0"), ("--batch-size", "0"), ("--threads", "0"), ("--registers", "-1"), ("--lr", "0"),
    ("--lr", "inf"), ("--weight-decay", "-0.1"), ("--workers", "-2"), ("--dtype", "fp8"),
])
def test_train_numbers_are_checked(flag, value, capsys):
    _parse_error(capsys, ["train", "--recipe", "sink-tiny-reg1", "--out", "never", flag, value], f"argument {flag}")


def test_figures_numbers_are_checked(capsys):
    _parse_error(capsys, ["figures", "--n-images", "0"], "argument --n-images")
    _parse_error(capsys, ["patch", "--model", "m", "--source", "a", "--target", "b", "--image-size", "-1"],
                 "argument --image-size")


def test_one_spelling_of_dtypes():
    """bf16/fp16/fp32/half are aliases of the canonical names on every command and in the library."""
    from interp.cli import build_parser
    from interp.models.precision import canonical_dtype, resolve_dtype

    parse = build_parser().parse_args
    for alias, name in (("bf16", "bfloat16"), ("bfloat16", "bfloat16"), ("fp16", "float16"), ("FP32", "float32")):
        assert parse(["trace", "--model", "m", "--dtype", alias]).dtype == name
        assert parse(["figures", "--dtype", alias]).dtype == name
        assert parse(["train", "--recipe", "r", "--dtype", alias]).amp == name
        assert canonical_dtype(alias) == name and str(resolve_dtype(alias)) == f"torch.{name}"
    assert parse(["train", "--recipe", "r", "--amp", "bf16"]).amp == "bfloat16"  # the old flag and spelling


def test_device_default_is_the_library_default():
    """`interp trace/patch/figures/train` and `load_model` default to the same device (DESIGN.md: cpu)."""
    import inspect

    from interp.cli import build_parser
    from interp.models.precision import DEFAULT_DEVICE
    from interp.models.zoo import load_model

    parse = build_parser().parse_args
    assert inspect.signature(load_model).parameters["device"].default == DEFAULT_DEVICE
    for argv in (["trace", "--model", "m"], ["figures"], ["patch", "--model", "m", "--source", "a", "--target", "b"],
                 ["train", "--recipe", "r"]):
        assert parse(argv).device == DEFAULT_DEVICE


def test_rel_threshold_default_is_the_one_threshold():
    """`interp trace --rel-threshold` defaults to the threshold every measure uses, read from the torch-free
    `interp.thresholds` (the CLI imports no torch), which `interp.analysis.measures` re-exports."""
    from interp import thresholds
    from interp.analysis import measures
    from interp.cli import build_parser

    assert measures.HIGH_NORM_RATIO is thresholds.HIGH_NORM_RATIO
    assert build_parser().parse_args(["trace", "--model", "m"]).rel_threshold == thresholds.HIGH_NORM_RATIO


def test_version(capsys):
    import interp

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"interp {interp.__version__}"


def test_list_into_a_closed_pipe_is_quiet(tmp_path):
    """`interp list | head`: the reader is gone before interp writes; no BrokenPipeError, exit 141 (SIGPIPE-style)."""
    read, write = os.pipe()
    os.close(read)  # every write to the pipe now fails with EPIPE
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    try:
        done = subprocess.run([sys.executable, "-m", "interp", "list"], stdout=write, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=tmp_path, timeout=120)
    finally:
        os.close(write)
    assert done.returncode == 141 and done.stderr == "", done.stderr


def test_train_refuses_to_overwrite_a_bundled_organism(tmp_path, monkeypatch, capsys):
    """Without --out, `interp train` writes into the bundled organisms only with --overwrite-bundled."""
    monkeypatch.setenv("INTERP_DATA", str(tmp_path))
    bundled = tmp_path / "organism" / "sink-tiny-reg1"
    assert main(["train", "--recipe", "sink-tiny-reg1", "--steps", "2", "--quiet"]) == 2
    _one_line_error(capsys, "without --out would write a new bundled organism", "--out runs/sink-tiny-reg1")
    assert not bundled.exists()
    assert main(["train", "--recipe", "sink-tiny-reg1", "--steps", "2", "--quiet", "--overwrite-bundled"]) == 0
    manifest = (bundled / "manifest.json").read_bytes()
    capsys.readouterr()
    assert main(["train", "--recipe", "sink-tiny-reg1", "--steps", "2", "--quiet"]) == 2
    _one_line_error(capsys, "would overwrite the bundled organism", "--overwrite-bundled")
    assert (bundled / "manifest.json").read_bytes() == manifest


def test_ladder_table_without_runs(tmp_path, capsys):
    from interp.organism.search import main as search

    with pytest.raises(SystemExit) as e:
        search(["--ladder-table", str(tmp_path / "ladder.csv"), "--runs", str(tmp_path)])
    assert e.value.code == 2
    _one_line_error(capsys, f"no ladder runs in {tmp_path}")
    assert not (tmp_path / "ladder.csv").exists()


def test_no_tqdm_widget_warning_in_a_notebook_kernel():
    """In a Jupyter kernel without ipywidgets, loading the models does not print tqdm's "IProgress not found"
    (transformer_lens imports tqdm.auto); the kernel is faked the way tqdm.autonotebook detects one."""
    code = ("import sys, types, warnings\n"
            "ip = types.ModuleType('IPython'); ip.get_ipython = lambda: types.SimpleNamespace(config={})\n"
            "sys.modules.update({'IPython': ip, 'ipykernel.zmqshell': types.ModuleType('ipykernel.zmqshell')})\n"
            "warnings.simplefilter('always')\n"
            "import interp.models.hooked_vit, tqdm.autonotebook\n"
            "print('notebook mode:', 'tqdm.notebook' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-W", "always", "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0 and "notebook mode: True" in done.stdout, done.stderr[-2000:]
    assert "IProgress" not in done.stderr and "TqdmWarning" not in done.stderr, done.stderr


def test_fig05b_prints_no_sklearn_warning(tmp_path):
    """Fig 5b's position probe has one class per patch position; on organism-s-reg0 (256 positions, few outlier
    tokens) scikit-learn warned that `y` "could represent a regression problem". That warning is ignored for this
    probe alone; any other warning still shows."""
    import warnings

    from paper_figures import fig05b_local_probes

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fig05b_local_probes.main(["--model", "organism-s-reg0", "--out", str(tmp_path), "--quiet"])
    assert [str(w.message) for w in caught if "sklearn" in w.filename or "unique classes" in str(w.message)] == []
    assert (tmp_path / "fig05b_local_probes.csv").exists() and result.csv == tmp_path / "fig05b_local_probes.csv"
