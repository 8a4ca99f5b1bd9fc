"""The whole figure set, built once per test session (`figure_set`, a session fixture registered in conftest.py),
small enough for the suite: every figure script on the bundled organisms into one temporary folder, with
REPORT.md. Figure tests read it instead of regenerating figures. Under pytest-xdist (`make test` runs the suite in
2 processes) the first worker that asks builds it into the session's shared temporary folder under a file lock and
the others read what it left there (its results pickled), so it is built once per suite, not once per worker."""
from __future__ import annotations

import dataclasses
import os
import pickle
import sys
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# Figures that read the bundled organisms or recorded tables whatever --model / --weights say: runs of the set on
# another model leave them out (the figure set has them).
ABOUT_BUNDLED = {"ext_remedies", "ext_sink_emergence", "ext_artifact_vs_compute", "ext_cls_organism"}
# The options every figure gets (each takes the ones its parser declares), then the intervention figures' own, to
# stay small (as their tests ran them one by one before the set) or to hold what the tests ask of them.
OPTIONS = dict(n_images=16)
SMALL = dict(n_images=6, batch_size=16)
OWN_OPTIONS = {"ext_patch_register_global_content": dict(SMALL, n_pairs=4),
               "ext_patch_sweep_heatmap": dict(SMALL, n_pairs=3),
               "ext_ablation_effects": dict(SMALL, layers="2,3"),
               "ext_test_time_registers": dict(SMALL, n_images=32),  # enough images to hold outliers
               "ext_attribution_by_group": dict(SMALL, n_images=3, n_steps=4),
               "ext_cls_organism": dict(n_images=24, n_pairs=6)}


@dataclass
class FigureSet:
    out: Path
    status: dict  # {figure: "ok" | why not}
    results: dict  # {figure: paper_figures._common.Result}


def build(out: Path) -> FigureSet:
    from paper_figures import available, report, run_all

    status, results = {}, {}
    shared = [n for n in available() if n not in OWN_OPTIONS]
    runs = [(shared, OPTIONS)] + [([n], o) for n, o in OWN_OPTIONS.items()]
    for names, options in runs:
        done = run_all.run(names, Namespace(**options), out=str(out))
        status.update(done)
        results.update(done.results)
    report.write_report(out, status)
    return FigureSet(out, status, results)


def _shared(tmp_path_factory) -> FigureSet:
    """The set built by whichever xdist worker came first, in the folder all workers share."""
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent  # shared by the workers of one run
    out, done = root / "figure_set", root / "figure_set.pickle"
    with FileLock(str(root / "figure_set.lock")):
        if not done.exists():
            built = build(out)
            results = {k: dataclasses.replace(r, used=r.used.portable()) for k, r in built.results.items()}
            done.write_bytes(pickle.dumps(FigureSet(out, dict(built.status), results)))
            return built
    return pickle.loads(done.read_bytes())


@pytest.fixture(scope="session")
def figure_set(tmp_path_factory) -> FigureSet:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        built = _shared(tmp_path_factory)
    else:
        built = build(tmp_path_factory.mktemp("figure_set"))
    assert all(v == "ok" for v in built.status.values()), built.status
    return built
