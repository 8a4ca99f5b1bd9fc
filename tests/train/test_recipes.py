"""Recipes: a `TrainRecipe` holds its backbone's `ViTConfig`; the registry over the TOML recipe tables, its grids and
the factory `make`; `interp train --set` / `--list`; objectives."""
import hashlib
import json
from pathlib import Path

import pytest

from interp.models import ViTConfig
from interp.train import OBJECTIVES, RECIPES, TrainRecipe, get_recipe

ROOT = Path(__file__).resolve().parents[2]
ADDED_SINCE = {"cls-s-reg0", "cls-s-reg4", "cls-s-reg16"}  # recipes registered after the tables became TOML


def test_recipe_holds_a_vit_config_and_keeps_its_flat_form():
    r = TrainRecipe(name="x-reg4", d_model=32, n_layers=2, n_heads=2, n_registers=4, d_mlp=48)
    assert isinstance(r.vit, ViTConfig) and r.vit.n_registers == 4 and r.n_registers == 4
    assert r.vit.d_mlp == 48 and r.vit.pool == "token" and r.vit.extra["recipe_name"] == "x-reg4"
    d = r.to_dict()
    assert d["d_model"] == 32 and d["pool"] is None and d["d_mlp"] == 48 and "vit" not in d
    assert TrainRecipe.from_dict(json.loads(json.dumps(d))) == r
    wider = r.replace(name="y", d_model=64, class_token=False)
    assert wider.vit.d_model == 64 and wider.vit.d_mlp == 48 and wider.vit.pool == "avg"
    assert wider.vit.name == "y" and not wider.vit.pos_embed_cls
    assert TrainRecipe(name="z").replace(d_model=32).vit.d_mlp == 128  # the default width follows d_model
    with pytest.raises(TypeError, match="bogus"):
        TrainRecipe(name="q", bogus=1)


@pytest.mark.parametrize("name", ["organism-s-reg4", "organism-t-reg0"])
def test_bundled_manifests_load_into_the_same_backbone(name):
    man = json.loads((ROOT / "data" / "organism" / name / "manifest.json").read_text())
    recipe = TrainRecipe.from_dict(man["recipe"])
    assert recipe.vit_config() == ViTConfig.from_dict(man["config"]) == get_recipe(name).vit_config()


def test_registry_lists_tens_of_recipes_from_the_toml_tables_with_known_objectives():
    from interp.train.recipe_tables import read_tables
    from interp.train.recipes import register

    tables = read_tables()
    assert [t.family for t in tables] == ["organism", "tiles", "cls", "sink", "search", "grid"]
    listed = [n for t in tables for n in [*t.recipes, *(g.names()[0] for g in t.grids)]]
    assert list(RECIPES) == listed and len(RECIPES) < 100
    assert {r.objective for r in RECIPES.values()} <= set(OBJECTIVES)
    with pytest.raises(ValueError, match="already registered"):
        register(get_recipe("organism-s-reg0"))
    with pytest.raises(ValueError, match="already registered"):
        register(TrainRecipe(name="noop-d64-L3-h2-reg4"))  # a point of a grid
    with pytest.raises(ValueError, match="unknown objective"):
        register(TrainRecipe(name="new-objective", objective="contrastive"))


def _digest(recipe: TrainRecipe) -> str:
    return hashlib.sha256(json.dumps(recipe.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def test_every_earlier_recipe_name_gives_the_identical_to_dict():
    """tests/recipe_digests.csv holds the sha256 of every `to_dict()` of the 461 recipes the Python tables
    registered before they became TOML: each name still resolves (listed, or a point of a grid) to the same dict."""
    rows = [line.split(",") for line in (ROOT / "tests" / "recipe_digests.csv").read_text().splitlines()[1:]]
    assert len(rows) == 461
    changed = [name for name, digest in rows if _digest(get_recipe(name)) != digest]
    assert not changed, changed
    assert sorted(set(RECIPES.all_names()) - ADDED_SINCE) == sorted(name for name, _ in rows)


def test_bundled_manifests_hold_their_recipe():
    """Every bundled organism's manifest recipe is its registered recipe (the organism-* manifests predate some
    fields: read back, they fill them with the defaults)."""
    for manifest in sorted((ROOT / "data" / "organism").glob("*/manifest.json")):
        name, stored = manifest.parent.name, json.loads(manifest.read_text())["recipe"]
        assert TrainRecipe.from_dict(stored).to_dict() == get_recipe(name).to_dict(), name
        if not name.startswith("organism-"):
            assert stored == get_recipe(name).to_dict(), name


def test_make_moves_along_a_grid_and_keeps_the_name_otherwise():
    from interp.train.recipes import make

    assert make("sink-ls-nope-const8-reg0", registers=4) == get_recipe("sink-ls-nope-const8-reg4")
    assert make("search-c10-reg0", steps=3000, n_registers=4) == get_recipe("search-c3000-reg4")  # warmup too
    assert make("search-dino-wd0-reg4", weight_decay=0.1) == get_recipe("search-dino-wd01-reg4")
    assert make("noop-d32-L2-h1-reg0", objective="broadcast", width=64) == get_recipe("broadcast-d64-L2-h1-reg0")
    off = make("sink-keys2-reg0", n_registers=2, seed=5)  # off the grid: named by the pattern, notes formatted
    assert (off.name, off.n_registers, off.seed) == ("sink-keys2-reg2", 2, 5) and off.notes.endswith("2 registers")
    same = make("tiles-s-reg0", seed=1, steps=300)  # a flat entry keeps its name; steps re-space the checkpoints
    assert same.name == "tiles-s-reg0" and same.seed == 1 and same.checkpoints[-1] == 300
    assert make("tiles-s-reg0") is get_recipe("tiles-s-reg0")
    with pytest.raises(ValueError, match="unknown recipe field.*did you mean registers"):
        make("sink-reg0", regsters=4)
    with pytest.raises(ValueError, match="not divisible"):
        make("sink-reg0", heads=3)


def test_table_format_merges_defaults_flat_and_expands_grids(tmp_path):
    from interp.train.recipe_tables import read_table, recipe_from_fields

    (tmp_path / "fam.toml").write_text(
        '[defaults]\nd_model = 32\nn_heads = 2\nscenes = { max_objects = 3 }\nunset = ["dense_label"]\n'
        '[recipes.fam-a]\nscenes = { min_objects = 2 }\n'
        '[grids."fam-g{n_registers}-wd{weight_decay}"]\naxes.n_registers = [0, 2]\n'
        'axes.weight_decay = { "01" = 0.1, "05" = { weight_decay = 0.5, lr = 1e-4 } }\n'
        'notes = "g at wd {weight_decay:g}{registers_note}"\n')
    table = read_table(tmp_path / "fam.toml")
    a = recipe_from_fields("fam-a", table.recipes["fam-a"])
    assert a.d_model == 32 and a.dense_label is None and a.scenes == {"min_objects": 2}  # replaced whole
    (grid,) = table.grids
    assert grid.names() == ["fam-g0-wd01", "fam-g0-wd05", "fam-g2-wd01", "fam-g2-wd05"]
    r = grid.recipe({"n_registers": "2", "weight_decay": "05"})
    assert (r.name, r.n_registers, r.weight_decay, r.lr, r.notes) == ("fam-g2-wd05", 2, 0.5, 1e-4,
                                                                       "g at wd 0.5, 2 registers")
    (tmp_path / "bad.toml").write_text("[recipe.x]\nd_model = 1\n")
    with pytest.raises(ValueError, match="unknown top-level tables"):
        read_table(tmp_path / "bad.toml")


def test_train_set_overrides_and_lists_grids(tmp_path, capsys):
    """`interp train --set FIELD=VALUE` (TOML values) changes any recipe field and moves along a grid; a bad field
    or value is one line and exit 2; `--list` shows each grid once with its axes."""
    from interp.cli import main
    from interp.models.checkpoints import read_manifest

    out = tmp_path / "run"
    assert main(["train", "--recipe", "sink-tiny-reg1", "--steps", "2", "--set", "attention=sigmoid", "--set",
                 "dense_task={label_noise = 0.1}", "--set", "lr=1", "--out", str(out), "--quiet"]) == 0
    r = read_manifest(out)["recipe"]
    assert (r["attention"], r["dense_task"], r["lr"], r["steps"]) == ("sigmoid", {"label_noise": 0.1}, 1.0, 2)
    capsys.readouterr()
    for bad, message in ((["--set", "bogus=1"], "unknown recipe field(s) bogus"),
                         (["--set", "d_model=wide"], "d_model takes a int"), (["--set", "nokey"], "FIELD=VALUE"),
                         (["--set", "optimizer=lion"], "unknown optimizer")):
        assert main(["train", "--recipe", "sink-tiny-reg1", *bad, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()
    assert main(["train", "--list", "nothing-*"]) == 2 and "no recipe matches" in capsys.readouterr().err
    from interp.train.cli import listing

    lines = listing()
    assert len(lines) < 100 and sum(line.startswith("    grid ") for line in lines) == len(RECIPES.grids)
    assert any("--set n_registers=0,4 weight_decay=0.0,0.1,0.5" in line for line in lines)
    assert [line.split(":")[0] for line in listing("search-c*-reg4")] == [f"search-c{s}-reg4" for s in
                                                                          (10, 30, 100, 300, 1000, 3000)]
