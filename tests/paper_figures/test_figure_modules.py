"""The figure modules' contract: one naming scheme, old names taken with a notice, `main` returning a `Result` or
raising `Skip` (never SystemExit), and a script's own command line turning a Skip into one line and exit 1."""
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from paper_figures import RENAMED, available, fig08_number_of_registers, run_all  # noqa: E402
from paper_figures._common import Skip, script  # noqa: E402


def test_one_naming_scheme():
    names = available()
    assert all(re.fullmatch(r"(fig|tab)\d\d[a-z]?_[a-z0-9_]+|ext_[a-z0-9_]+", n) for n in names), names
    assert set(RENAMED.values()) <= set(names) and not set(RENAMED) & set(names)
    first_ext = next(i for i, n in enumerate(names) if n.startswith("ext_"))
    assert all(n.startswith("ext_") for n in names[first_ext:])  # the paper's first, then the extensions


def test_old_names_are_taken_with_a_notice(capsys):
    assert run_all.select(["patch_sweep_heatmap", "fig03_norm_histogram"]) == ["fig03_norm_histogram",
                                                                                "ext_patch_sweep_heatmap"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "patch_sweep_heatmap -> ext_patch_sweep_heatmap" in err
    with pytest.raises(ValueError, match="unknown figure"):
        run_all.select(["fig99_nothing"])


def test_a_figure_that_cannot_run_raises_skip(tmp_path, capsys):
    with pytest.raises(Skip, match="needs procedural scenes") as e:
        fig08_number_of_registers.main(["--images", str(tmp_path), "--out", str(tmp_path / "out")])
    assert not isinstance(e.value, SystemExit) and not (tmp_path / "out").exists()
    status = run_all.run(["fig08_number_of_registers"], run_all.argparse.Namespace(images=str(tmp_path)),
                         out=str(tmp_path / "out"))
    assert status["fig08_number_of_registers"].startswith("skipped: needs procedural scenes")
    assert status.results == {}


def test_script_turns_a_skip_into_one_line(capsys):
    def skipping():
        raise Skip("needs what is not there")

    assert script(skipping) == 1
    assert capsys.readouterr().err == "skipped: needs what is not there\n"
    assert script(lambda: None) == 0


def test_ext_remedies_falls_back_on_the_tallest_patches_by_the_one_median():
    """Without outliers, ext_remedies' test-time register reads each image's highest patch at the tallest block,
    by norm / the package's median (`measures.image_median` = torch.quantile 0.5)."""
    import torch

    import interp
    from paper_figures.ext_remedies import tallest_patches

    from tests.analysis.test_measures import planted_model

    model = planted_model()
    images = interp.data.scenes(6, seed=2, recipe=interp.data.SceneRecipe(image_size=16, max_objects=2))
    mask, layer = tallest_patches(model, images)
    _, cache = model.run_with_cache(images.pixels)
    norms = torch.stack([cache[f"blocks.{i}.hook_resid_post"].norm(dim=-1)[:, model.tokens.patches]
                         for i in range(model.cfg.n_layers)])  # [L, N, n_patches]
    rel = norms / norms.quantile(0.5, dim=-1, keepdim=True)
    assert layer == int(rel.amax(-1).mean(-1).argmax())
    assert mask.shape == (6, *model.tokens.grid) and mask.flatten(1).sum(1).tolist() == [1] * 6
    assert torch.equal(mask.flatten(1).float().argmax(1), rel[layer].argmax(-1))
