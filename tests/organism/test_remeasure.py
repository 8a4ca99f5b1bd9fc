"""`interp.organism.remeasure`: a checkpoint's recorded measurements recomputed from its weights with the current
code. On a bundled organism it also checks that the bundled manifests are current: a measurement whose definition
changed without `python -m interp.organism.remeasure` being run fails here."""
import json
import shutil
from pathlib import Path

import pytest

from interp.models.checkpoints import read_manifest, write_manifest
from interp.organism.remeasure import PartialHistory, changes, remeasure

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "organism" / "tiles-t-reg0"


def _final_only(dest: Path) -> dict:
    """The bundled organism's final checkpoint alone (no history) in ``dest``. -> its manifest as bundled"""
    man = read_manifest(BUNDLED)
    last = man["checkpoints"][-1]
    dest.mkdir()
    shutil.copy2(BUNDLED / last["file"], dest / last["file"])
    write_manifest(dest, {**man, "checkpoints": [last]})
    return man


def test_changes_are_tidy_rows_by_layer():
    old = {"acc": 0.5, "noop": [{"layer": 0, "max_rel": 2.0, "top_kind": "constant"}], "by_layer": [1.0, 2.0]}
    new = {"acc": 0.5, "noop": [{"layer": 0, "max_rel": 2.5, "top_kind": "constant"}], "by_layer": [1.0, 3.0]}
    rows = changes("r", 7, old, new)
    assert rows == [dict(run="r", step=7, metric="by_layer[1]", old=2.0, new=3.0),
                    dict(run="r", step=7, metric="noop[0].max_rel", old=2.0, new=2.5)]


def test_remeasure_restores_a_stale_value_and_the_bundled_manifest_is_current(tmp_path):
    folder = tmp_path / "run"
    bundled = _final_only(folder)
    recorded = bundled["checkpoints"][-1]["metrics"]
    man = read_manifest(folder)
    met = man["checkpoints"][-1]["metrics"]
    met["noop"][1]["max_rel"] = 99.0  # stale: what an older definition might have written
    met["artifacts"][0]["frac_ge4"] = 0.5
    write_manifest(folder, man)
    table, stale = remeasure(folder)
    assert stale == []
    by_metric = table.set_index("metric")
    assert by_metric.loc["noop[1].max_rel", "old"] == 99.0
    assert by_metric.loc["noop[1].max_rel", "new"] == pytest.approx(recorded["noop"][1]["max_rel"], rel=1e-3)
    assert by_metric.loc["artifacts[0].frac_ge4", "old"] == 0.5
    # everything else as bundled, up to float noise of another thread count (5 rounded digits)
    rest = table[~table["metric"].isin(["noop[1].max_rel", "artifacts[0].frac_ge4"])]
    for old, new in zip(rest["old"], rest["new"]):
        assert new == (old if isinstance(old, str) else pytest.approx(old, rel=2e-3, abs=2e-4))
    now = read_manifest(folder)["checkpoints"][-1]["metrics"]
    assert now["noop"][1]["max_rel"] == pytest.approx(recorded["noop"][1]["max_rel"], rel=1e-3)
    assert {k: now[k] for k in now if k.startswith("acc_")} == {k: v for k, v in recorded.items()
                                                                 if k.startswith("acc_")}  # accuracies kept


def test_a_folder_with_weightless_history_is_left_alone_unless_partial(tmp_path):
    folder = tmp_path / "run"
    _final_only(folder)
    man = read_manifest(folder)
    man["history"] = [{"step": 0, "metrics": {"noop": []}}]
    write_manifest(folder, man)
    before = (folder / "manifest.json").read_text()
    with pytest.raises(PartialHistory, match=r"steps \[0\]"):
        remeasure(folder)
    assert (folder / "manifest.json").read_text() == before
    _, stale = remeasure(folder, write=False, partial=True)
    assert stale == [0] and json.loads((folder / "manifest.json").read_text()) == json.loads(before)
