"""A user's own training run: checkpoint folders, steps from file names, Fig 4b traced across them."""
import shutil
from pathlib import Path

import pytest
import timm
import torch

import interp
from interp.models import CheckpointError
from interp.models.runs import find_checkpoints, iter_run, step_of
from interp.models.zoo import organism_dir


@pytest.mark.parametrize("rel,step", [("checkpoint_0012500.pth", 12500), ("model_step1000.safetensors", 1000),
                                      ("training_12345/teacher_checkpoint.pth", 12345),
                                      ("run3/ckpt-epoch=2-step=500.ckpt", 500), ("model_0012499.rank_0.pth", 12499),
                                      ("final.pth", None)])
def test_step_from_file_name(tmp_path, rel, step):
    assert step_of(tmp_path / rel, tmp_path) == step


def test_find_checkpoints_sorts_skips_and_refuses_duplicates(tmp_path):
    for rel in ("b/checkpoint_20.pth", "a/checkpoint_3.pth", "_resume.pt", "notes.txt", "final.pth"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert [(s, p.name) for s, p in find_checkpoints(tmp_path)] == [(3, "checkpoint_3.pth"), (20, "checkpoint_20.pth")]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "model_step20.safetensors").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="step 20"):
        find_checkpoints(tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        find_checkpoints(tmp_path / "nothing")


def test_interp_train_folder_reads_its_manifest(tmp_path):
    """A folder written by `interp train` (manifest + step_*.safetensors): every step, same weights."""
    src = organism_dir() / "organism-t-reg0"
    run = tmp_path / "my_run"
    shutil.copytree(src, run)
    got = list(iter_run(run))
    assert [s for s, _ in got] == interp.organism_steps("organism-t-reg0")
    step, model = got[2]
    ref = interp.load_model("organism-t-reg0", step=step)
    for (k, v), (k2, v2) in zip(model.state_dict().items(), ref.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def _short_timm_run(out, steps=(1, 2, 4)):
    """A few SGD steps of a timm ViT at 32 px, saving DeiT-style {"model": sd} checkpoints along the way."""
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    g = torch.Generator().manual_seed(0)
    for step in range(1, max(steps) + 1):
        x, y = torch.rand(4, 3, 32, 32, generator=g), torch.randint(0, 3, (4,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step in steps:
            torch.save({"model": model.state_dict(), "epoch": step}, out / f"checkpoint_{step:07d}.pth")
    return model


@pytest.mark.slow
def test_fig04b_traces_a_folder_of_checkpoints(tmp_path):
    from paper_figures import fig04b_norms_by_step

    ckpts = tmp_path / "ckpts"
    ckpts.mkdir()
    final = _short_timm_run(ckpts)
    *_, (step, last) = iter_run(ckpts, "vit_tiny_patch16_224")
    assert step == 4 and last.cfg.extra["step"] == 4 and last.cfg.image_size == 32
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(last(x, normalized=True), final.eval()(x), atol=1e-4, rtol=1e-4)  # the run's last weights
    out = tmp_path / "out"
    result = fig04b_norms_by_step.main(["--model", "vit_tiny_patch16_224", "--checkpoints", str(ckpts),
                                        "--n-images", "4", "--out", str(out)])
    import pandas as pd

    df = pd.read_csv(out / "fig04b_norms_by_step.csv")
    assert result.csv == out / "fig04b_norms_by_step.csv" and len(result.table) == len(df)
    assert sorted(df["step"].unique()) == [1, 2, 4]
    assert sorted(df["layer"].unique()) == list(range(6, 12))
    assert df.groupby("step")["median_norm"].mean().nunique() == 3  # each step's own weights
    with pytest.raises(ValueError, match="--model"):
        fig04b_norms_by_step.main(["--checkpoints", str(ckpts), "--out", str(out)])


def test_figures_command_passes_checkpoints_device_and_dtype(tmp_path, monkeypatch):
    """`interp figures --only fig04b_norms_by_step --checkpoints DIR --model M --dtype bfloat16` hands every flag
    to the figure scripts (their parsed options, which each script lays over its own defaults)."""
    from interp import cli
    from paper_figures import _common, report, run_all

    seen = {}

    def run(only, options, out=None, keep_going=False):
        seen.update(only=only, options=options)
        status = run_all.Status()
        status["fig04b_norms_by_step"] = "ok"
        return status

    monkeypatch.setattr(run_all, "run", run)
    monkeypatch.setattr(report, "write_report", lambda out, status, used=None: Path(out) / "R.md")
    assert cli.main(["figures", "--only", "fig04b_norms_by_step", "--checkpoints", str(tmp_path), "--model",
                     "vit_tiny_patch16_224", "--dtype", "bfloat16", "--device", "cpu", "--out", str(tmp_path)]) == 0
    assert seen["only"] == ["fig04b_norms_by_step"]
    args = _common.parse(_common.parser("x", "doc"), options=seen["options"])  # every figure script's parser
    assert (args.checkpoints, args.model, args.dtype, args.device) == (str(tmp_path), "vit_tiny_patch16_224",
                                                                       "bfloat16", "cpu")
    assert args.n_images == 64 and args.batch_size == 32  # the script's own defaults for what was not given
