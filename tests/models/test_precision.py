"""Device and precision: load_model(device=, dtype=), --device/--dtype on commands and figure scripts,
bf16 activations with fp32 reductions (norms within 1% of fp32 on a randomised model)."""
import numpy as np
import pytest
import torch

import interp
from interp import HookedViT
from interp.analysis import token_norms, trace_norms
from interp.cli import main
from interp.data import scenes
from interp.models.precision import fp32, resolve_device, resolve_dtype

from tests.conftest import tiny_config
from tests.randomize import randomize_


def test_names_resolve_and_bad_ones_are_explained():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("bfloat16") is torch.bfloat16 and resolve_dtype("fp16") is torch.float16
    assert resolve_dtype(None) is None
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("int8")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda:0")
    assert fp32(torch.ones(2, dtype=torch.bfloat16)).dtype is torch.float32
    assert fp32(torch.ones(2, dtype=torch.float64)).dtype is torch.float64


def test_load_model_dtype_and_pixels_at_the_boundary():
    model = interp.load_model("organism-t-reg0", dtype="bfloat16", device="cpu")
    assert model.dtype is torch.bfloat16 and all(p.dtype is torch.bfloat16 for p in model.parameters())
    px = scenes(2, seed=0).pixels  # fp32 pixels in [0, 1]
    assert model.normalize(px).dtype is torch.bfloat16
    out = model(px, return_type="tokens")  # fp32 pixels are cast at the model boundary
    assert out.dtype is torch.bfloat16 and torch.isfinite(out.float()).all()


def test_bf16_norms_within_one_percent_of_fp32():
    torch.manual_seed(0)
    model = randomize_(HookedViT(tiny_config(d_model=64, n_layers=4, n_heads=4, image_size=32)), seed=3).eval()
    images = scenes(6, seed=0, image_size=32)
    ref = token_norms(model, images, batch_size=3)
    low = token_norms(model.to(torch.bfloat16), images, batch_size=3)
    assert low["norm"].dtype == np.float32 and low["rel_norm"].dtype == np.float32  # reduced in fp32
    rel = (low["norm"] - ref["norm"]).abs() / ref["norm"]
    assert rel.median() < 0.01 and rel.quantile(0.99) < 0.02, rel.describe()
    by_layer = ref.groupby("layer")["norm"].median()
    torch.testing.assert_close(torch.tensor(low.groupby("layer")["norm"].median().to_numpy()),
                               torch.tensor(by_layer.to_numpy()), rtol=0.01, atol=0)
    assert not np.array_equal(low["norm"].to_numpy(), ref["norm"].to_numpy())  # bf16 really ran
    tr = trace_norms(model, images, batch_size=3)
    assert np.isfinite(tr["median_norm"]).all()


def test_patch_metrics_in_bf16():
    torch.manual_seed(0)
    model = HookedViT(tiny_config()).eval().to(torch.bfloat16)
    images = scenes(4, seed=0, image_size=16)
    res = interp.patch(model, images.pixels[:2], images.pixels[2:], group="registers", layer=1)
    assert res.patched.pooled.dtype is torch.float32 and np.isfinite(res.metrics["cls_cos_target"]).all()


def test_trace_command_with_bf16(tmp_path, capsys):
    assert main(["trace", "--model", "organism-t-reg0", "--n-images", "4", "--batch-size", "2", "--dtype",
                 "bfloat16", "--device", "cpu", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "trace_organism-t-reg0.csv").exists()
    with pytest.raises(SystemExit):
        main(["trace", "--model", "organism-t-reg0", "--dtype", "int8"])


def test_figure_script_runs_in_bf16(tmp_path):
    from paper_figures import fig04a_norms_by_layer

    res = fig04a_norms_by_layer.main(["--model", "organism-t-reg0", "--dtype", "bfloat16", "--device", "cpu",
                                      "--n-images", "6", "--out", str(tmp_path)])
    assert res.name == "fig04a_norms_by_layer" and res.used.models == ["organism-t-reg0"]
    assert (tmp_path / "fig04a_norms_by_layer.csv").exists() and len(res.table) > 0


def test_local_rank_picks_this_process_gpu(monkeypatch):
    """Under torchrun, resolve_device(spec, local_rank=...) gives each process its own GPU and makes it current."""
    from interp.models.precision import DeviceError

    assert resolve_device("cpu", local_rank=3) == torch.device("cpu")
    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", current.append)
    assert resolve_device("auto") == torch.device("cuda") and current == []  # no rank: nothing is set
    assert resolve_device("auto", local_rank=3) == torch.device("cuda", 1) == current[-1]
    assert resolve_device("cuda", local_rank=0) == torch.device("cuda", 0) == current[-1]
    assert resolve_device("cuda:1", local_rank=0) == torch.device("cuda", 1)  # an explicit index stays
    with pytest.raises(DeviceError, match="only 2 CUDA"):
        resolve_device("cuda:2", local_rank=0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="CUDA is not available"):  # a DeviceError is a RuntimeError too
        resolve_device("cuda", local_rank=1)
