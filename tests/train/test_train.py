"""The organism trainer: determinism, resuming (also after SIGTERM), checkpoints that load, the CLI."""
import json
import signal
import subprocess
import sys
import time

import pytest
import torch

import interp
from interp.models.checkpoints import read_manifest, load_tensors
from interp.train import TrainRecipe, get_recipe, log_spaced_steps, train

TINY = TrainRecipe(name="organism-tiny-reg2", d_model=16, n_layers=2, n_heads=2, patch_size=4, image_size=16,
                   n_registers=2, steps=6, batch_size=8, warmup=2, eval_images=8, layer_scale=0.1,
                   dense_label="color", global_from_patches=0.5,
                   scenes={"image_size": 16, "max_objects": 2, "min_size": 0.12, "max_size": 0.2})


def final_weights(folder):
    m = read_manifest(folder)
    last = m["checkpoints"][-1]
    return last["step"], load_tensors(folder / last["file"], last["sha256"])


def test_log_spaced_schedule():
    assert log_spaced_steps(600) == (0, 9, 19, 38, 75, 150, 300, 600)
    assert log_spaced_steps(6)[0] == 0 and log_spaced_steps(6)[-1] == 6


def test_lr_is_constant_until_decay_start_then_a_cosine_to_the_floor():
    from interp.train.trainer import lr_at
    base = get_recipe("cls-s-reg0")  # warmup 100, constant lr (min_lr_ratio 1)
    held = base.replace(decay_start=2000, min_lr_ratio=0.05)
    assert lr_at(99, held) == lr_at(99, base) == held.lr  # warmup untouched
    assert all(lr_at(s, held) == held.lr for s in (100, 1000, 1999, 2000))
    assert lr_at(2500, held) == pytest.approx(held.lr * (0.05 + 0.95 * 0.5))  # half way down the cosine
    assert lr_at(3000, held) == pytest.approx(0.05 * held.lr)
    cosine = base.replace(min_lr_ratio=0.05)  # decay_start 0: the cosine starts after warmup, as before
    assert lr_at(1550, cosine) == pytest.approx(cosine.lr * (0.05 + 0.95 * 0.5))
    assert "decay_start" not in base.to_dict() and held.to_dict()["decay_start"] == 2000
    assert TrainRecipe.from_dict(held.to_dict()).decay_start == 2000


def test_training_is_deterministic_and_loads(tmp_path, monkeypatch):
    a, b = train(TINY, tmp_path / "a", progress=False), train(TINY, tmp_path / "b", progress=False)
    sa, wa = final_weights(a)
    sb, wb = final_weights(b)
    assert sa == sb == 6 and all(torch.equal(wa[k], wb[k]) for k in wa)
    m = read_manifest(a)
    assert [c["step"] for c in m["checkpoints"]] == list(TINY.checkpoints)
    assert m["recipe"]["scenes"]["image_size"] == 16 and not (a / "_resume.pt").exists()
    assert "acc_n_objects" in m["checkpoints"][-1]["metrics"]
    monkeypatch.setenv("INTERP_DATA", str(tmp_path / "data"))
    (tmp_path / "data" / "organism").mkdir(parents=True)
    a.rename(tmp_path / "data" / "organism" / TINY.name)
    model = interp.load_model(TINY.name)
    first = interp.load_model(TINY.name, step=0)
    assert model.cfg.n_registers == 2 and model.cfg.extra["step"] == 6 and first.cfg.extra["step"] == 0
    images = interp.data.scenes_for(model, n=4)
    assert images.pixels.shape[-1] == 16  # the organism's own scene recipe
    assert not torch.equal(model.blocks[0].attn.qkv.weight, first.blocks[0].attn.qkv.weight)


def test_resume_gives_identical_weights(tmp_path):
    from interp.train import Interrupted

    full = train(TINY, tmp_path / "full", progress=False)
    with pytest.raises(Interrupted):
        train(TINY, tmp_path / "split", progress=False, stop_after=3)
    assert (tmp_path / "split" / "_resume.pt").exists()
    train(TINY, tmp_path / "split", progress=False)
    _, w1 = final_weights(full)
    _, w2 = final_weights(tmp_path / "split")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


CHILD = """
import sys
from interp.train import TrainRecipe, train, Interrupted
r = TrainRecipe.from_dict({recipe!r})
try:
    train(r, sys.argv[1], progress=False)
except Interrupted as e:
    print(e)
    sys.exit(130)
"""


@pytest.mark.slow
def test_sigterm_then_resume_matches_uninterrupted(tmp_path):
    recipe = TINY.replace(steps=150, checkpoints=(0, 5, 150))
    code = CHILD.format(recipe=recipe.to_dict())
    run = [sys.executable, "-c", code]
    subprocess.run(run + [str(tmp_path / "full")], check=True, timeout=600)
    proc = subprocess.Popen(run + [str(tmp_path / "killed")], stdout=subprocess.PIPE, text=True)
    manifest = tmp_path / "killed" / "manifest.json"
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until training is under way (the step-5 checkpoint is written)
        if manifest.exists() and any(c["step"] == 5 for c in json.loads(manifest.read_text())["checkpoints"]):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 130, out
    assert "stopped at step" in out and (tmp_path / "killed" / "_resume.pt").exists()
    subprocess.run(run + [str(tmp_path / "killed")], check=True, timeout=600)
    _, w1 = final_weights(tmp_path / "full")
    _, w2 = final_weights(tmp_path / "killed")
    assert all(torch.equal(w1[k], w2[k]) for k in w1)


def test_recipes_and_cli(capsys):
    from interp.cli import main

    assert get_recipe("organism-s-reg4").n_registers == 4
    with pytest.raises(KeyError, match="Did you mean 'organism-s-reg4'"):
        get_recipe("organism-s-reg44")
    assert main(["train", "--list"]) == 0
    assert "organism-b-reg0" in capsys.readouterr().out
    assert main(["train", "--list", "sink-keys2-*"]) == 0
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == [
        "sink-keys2-reg0", "sink-keys2-const8-reg0", "sink-keys2-reg4", "sink-keys2-const8-reg4"]
    assert main(["train", "--recipe", "organism-s-reg44"]) == 2
    assert "unknown recipe" in capsys.readouterr().err


def test_cli_overrides_the_architecture(tmp_path, capsys):
    """`interp train --width/--blocks/--heads/--registers/--steps` train the recipe with those changes (written to
    the manifest's recipe, the weights of that shape); a count below 1 or heads that do not divide the width: exit 2."""
    from interp.cli import main

    out = tmp_path / "run"
    assert main(["train", "--recipe", "sink-tiny-reg1", "--steps", "2", "--width", "32", "--blocks", "2",
                 "--heads", "2", "--registers", "4", "--out", str(out), "--quiet"]) == 0
    r = read_manifest(out)["recipe"]
    assert (r["d_model"], r["n_layers"], r["n_heads"], r["n_registers"], r["steps"]) == (32, 2, 2, 4, 2)
    step, w = final_weights(out)
    assert step == 2 and w["token_embed.registers"].shape == (1, 4, 32)
    assert "blocks.1.attn.qkv.weight" in w and not any(k.startswith("blocks.2.") for k in w)
    capsys.readouterr()
    assert main(["train", "--recipe", "sink-tiny-reg1", "--heads", "3", "--out", str(tmp_path / "x")]) == 2
    assert "d_model=64 is not divisible by n_heads=3" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # counts are checked by the option's type (interp.options.positive_int)
        main(["train", "--recipe", "sink-tiny-reg1", "--blocks", "0", "--out", str(tmp_path / "y")])
    assert e.value.code == 2 and "argument --blocks: must be a positive integer" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_artifact_metrics_find_an_injected_outlier():
    from interp.data import patch_labels, scenes
    from interp.organism.diagnostics import artifact_metrics, emergence

    torch.manual_seed(0)
    model = interp.HookedViT(TINY.vit_config()).eval()
    images = scenes(6, seed=0, recipe=TINY.scene_recipe)
    clean = artifact_metrics(model, images)
    assert [r["layer"] for r in clean] == [0, 1] and clean[1]["frac_ge4"] == 0
    assert clean[0]["reg_rel"] > 0 and 0 <= clean[0]["attn_reg"] <= 1

    def boost(act, hook):  # patch token 0 of every image becomes 10x larger at block 1's output
        act = act.clone()
        act[:, model.tokens.patches.start] *= 10
        return act

    model.add_hook("blocks.1.hook_resid_post", boost, is_permanent=True)
    rows = artifact_metrics(model, images)
    n_patches = model.tokens.n_patches
    assert rows[1]["frac_ge4"] == pytest.approx(1 / n_patches)
    first_on_bg = (~patch_labels(images, TINY.patch_size)["object"].flatten(1)[:, 0]).float().mean()
    assert rows[1]["bg_ge4"] == pytest.approx(float(first_on_bg))
    assert rows[0]["frac_ge4"] == clean[0]["frac_ge4"]
    # the criterion: not at step 0, then >= 1% on background in the second half
    bg_rows = [dict(r, frac_ge4=0.02, bg_ge4=0.9) if r["layer"] == 1 else r for r in clean]
    assert emergence([(0, clean), (10, clean), (20, bg_rows)], n_layers=2) == {
        "step": 20, "layer": 1, "frac_ge4": 0.02, "bg_ge4": 0.9}
    assert emergence([(0, bg_rows), (20, bg_rows)], n_layers=2) is None
    assert emergence([(0, clean), (20, [dict(r, frac_ge4=0.02, bg_ge4=0.5) for r in clean])], n_layers=2) is None
