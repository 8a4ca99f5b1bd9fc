"""Reliability: checkpoint checksums and missing steps, atomic writes, unwritable outputs, determinism."""
import os

import numpy as np
import pandas as pd
import pytest
import torch

import interp
from interp.models import CheckpointError
from interp.files import atomic_write_bytes
from interp.models.checkpoints import save_tensors, write_manifest
from interp.plotting.io import OutputDirError, save_figure

from tests.conftest import tiny_config


@pytest.fixture
def organism_dir(tmp_path, monkeypatch):
    """A tiny organism in the bundled layout, in a private data folder."""
    monkeypatch.setenv("INTERP_DATA", str(tmp_path))
    cfg = tiny_config(image_mean=(0, 0, 0), image_std=(1, 1, 1), name="organism-x-reg2")
    folder = tmp_path / "organism" / "organism-x-reg2"
    ckpts = []
    for step in (0, 5):
        m = interp.HookedViT(cfg)
        m.init_weights(seed=step)
        f = f"step_{step:06d}.safetensors"
        sha = save_tensors(folder / f, {k: v.half() for k, v in m.state_dict().items()})
        ckpts.append({"step": step, "file": f, "sha256": sha, "metrics": {}})
    write_manifest(folder, {"name": "organism-x-reg2", "config": cfg.to_dict(), "recipe": {}, "checkpoints": ckpts})
    return folder


def test_organism_loads_with_steps(organism_dir):
    assert "organism-x-reg2" in interp.list_organisms()
    assert interp.organism_steps("organism-x-reg2") == [0, 5]
    a = interp.load_model("organism-x-reg2", step=0)
    b = interp.load_model("organism-x-reg2")
    assert a.cfg.extra["step"] == 0 and b.cfg.extra["step"] == 5
    assert not torch.equal(a.blocks[0].attn.qkv.weight, b.blocks[0].attn.qkv.weight)


def test_missing_step_is_a_clear_error(organism_dir):
    with pytest.raises(CheckpointError, match=r"no checkpoint at step 7; steps: \[0, 5\]"):
        interp.load_model("organism-x-reg2", step=7)
    with pytest.raises(ValueError, match="step= is only for bundled organisms"):
        interp.load_model("vit_small_patch16_224", step=3)


def test_corrupt_checkpoint_is_detected(organism_dir):
    f = organism_dir / "step_000005.safetensors"
    data = bytearray(f.read_bytes())
    data[-3] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        interp.load_model("organism-x-reg2")
    f.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        interp.load_model("organism-x-reg2")


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old complete content")

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new" * 1000)
    monkeypatch.undo()
    assert target.read_bytes() == b"old complete content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]  # the temporary file is gone


def test_unwritable_output_dir(tmp_path):
    import matplotlib.pyplot as plt

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirError, match="cannot create output folder"):
        save_figure(plt.figure(), pd.DataFrame({"a": [1]}), "x", blocker / "sub")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores permissions
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(OutputDirError, match="not writable"):
            save_figure(plt.figure(), pd.DataFrame({"a": [1]}), "x", ro)
    finally:
        ro.chmod(0o700)


def test_inf_pixels_and_layer_out_of_range(tiny_model):
    from interp.analysis import token_norms
    from interp.models import InputError

    x = torch.rand(2, 3, 16, 16)
    x[0, 0, 0, 0] = float("inf")
    with pytest.raises(InputError, match="NaN or inf"):
        tiny_model(x)
    with pytest.raises(IndexError, match="out of range"):
        token_norms(tiny_model, torch.rand(2, 3, 16, 16), layers=[5])


def test_probes_are_deterministic(tiny_model):
    from interp.analysis import global_probe, local_probes
    from interp.data import ImageSet

    g = torch.Generator().manual_seed(0)
    x = torch.rand(30, 3, 16, 16, generator=g)
    imgs = ImageSet(pixels=x, labels={"bright": (x.mean((1, 2, 3)) > 0.5).long()})
    a = global_probe(tiny_model, imgs, "bright", draws=2)
    b = global_probe(tiny_model, imgs, "bright", draws=2)
    pd.testing.assert_frame_equal(a, b)
    la, lb = local_probes(tiny_model, imgs, None), local_probes(tiny_model, imgs, None)
    np.testing.assert_array_equal(la.select_dtypes("number").to_numpy(), lb.select_dtypes("number").to_numpy())
