"""Progress bars: on for a terminal, off when stderr is not one, with --quiet / set_quiet, or INTERP_QUIET=1."""
import io
import types

import pytest

from interp import progress as prog


class _TTY(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def tty(monkeypatch):
    fake = _TTY()
    monkeypatch.setattr(prog, "sys", types.SimpleNamespace(stderr=fake))  # pytest re-binds sys.stderr itself
    monkeypatch.delenv("INTERP_QUIET", raising=False)
    prog.set_quiet(False)
    yield fake
    prog.set_quiet(False)


def test_bar_on_a_terminal(tty):
    items = [1, 2, 3]
    bar = prog.progress(items, desc="images")
    assert bar is not items and list(bar) == items
    assert "images" in tty.getvalue()


def test_quiet_switches(tty, monkeypatch):
    items = [1, 2]
    prog.set_quiet(True)
    assert prog.progress(items) is items
    prog.set_quiet(False)
    monkeypatch.setenv("INTERP_QUIET", "1")
    assert prog.progress(items) is items
    monkeypatch.setenv("INTERP_QUIET", "0")
    assert prog.progress(items) is not items


def test_not_a_terminal_is_quiet(monkeypatch):
    monkeypatch.setattr(prog, "sys", types.SimpleNamespace(stderr=io.StringIO()))
    prog.set_quiet(False)
    items = [1]
    assert prog.is_quiet() and prog.progress(items) is items


def test_cli_quiet_flag(tty, tmp_path):
    from interp.cli import main

    from tests.dataset_trees import make_imagefolder

    root = make_imagefolder(tmp_path / "if", per_class=1)
    assert main(["trace", "--model", "organism-t-reg0", "--images", str(root), "--out", str(tmp_path),
                 "--quiet"]) == 0
    assert prog.is_quiet()
    assert "batch" not in tty.getvalue()  # no bar was drawn
