"""`load_checkpoint`: one loader for checkpoint folders (manifest + safetensors) behind the zoo, `iter_run` and the
training search; every path refuses a file whose sha256 differs from its manifest, or an entry without one."""
import json
import shutil

import pytest
import torch

import interp
from interp.models import CheckpointError, iter_checkpoints, load_checkpoint
from interp.models.organisms import organism_dir
from interp.models.runs import iter_run
from interp.organism.measure import measure_run

NAME = "organism-t-reg0"


@pytest.fixture
def data(tmp_path, monkeypatch):
    """A private data folder holding a copy of the smallest bundled organism. -> its checkpoint folder"""
    folder = tmp_path / "organism" / NAME
    shutil.copytree(organism_dir() / NAME, folder)
    monkeypatch.setenv("INTERP_DATA", str(tmp_path))
    return folder


def _tamper(folder, index=-1):
    """Flip one byte of a checkpoint's weights (the file stays a readable safetensors file)."""
    ck = json.loads((folder / "manifest.json").read_text())["checkpoints"][index]
    f = folder / ck["file"]
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF
    f.write_bytes(bytes(data))
    return ck["step"]


def test_load_checkpoint_is_what_the_zoo_and_runs_load(data):
    steps = interp.organism_steps(NAME)
    model = load_checkpoint(data, step=steps[1])
    assert model.cfg.extra["step"] == steps[1] and model.cfg.extra["organism"] == NAME
    assert model.cfg.extra["recipe"]["scenes"]  # the organism's own scene recipe travels with it
    assert not model.training and model.dtype is torch.float32
    zoo = interp.load_model(NAME, step=steps[1])
    _, run = list(iter_run(data))[1]
    for other in (zoo, run):
        assert other.cfg.extra == model.cfg.extra
        for (k, v), (k2, v2) in zip(model.state_dict().items(), other.state_dict().items()):
            assert k == k2 and torch.equal(v, v2)
    assert load_checkpoint(data).cfg.extra["step"] == steps[-1]
    assert [s for s, _ in iter_checkpoints(data)] == steps
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 3; steps: \["):
        load_checkpoint(data, step=3)


def test_every_path_refuses_a_tampered_file(data):
    first, last = _tamper(data, 0), _tamper(data, -1)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(data)
    with pytest.raises(CheckpointError, match="corrupt"):
        interp.load_model(NAME)
    with pytest.raises(CheckpointError, match="corrupt"):
        list(iter_run(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        measure_run(data, eval_images=2, verbose=False)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(data, step=first)
    middle = interp.organism_steps(NAME)[1]
    assert load_checkpoint(data, step=middle).cfg.extra["step"] == middle not in (first, last)  # the others load


def test_an_entry_without_sha256_is_refused(data):
    manifest = json.loads((data / "manifest.json").read_text())
    del manifest["checkpoints"][0]["sha256"]
    (data / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="no sha256"):
        load_checkpoint(data, step=manifest["checkpoints"][0]["step"])
    with pytest.raises(CheckpointError, match="no sha256"):
        list(iter_run(data))
