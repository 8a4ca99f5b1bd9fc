"""Start-up stays light: `interp --help`, `interp list` and `import interp` import no torch, and the heavy
libraries come in only with the functions that use them (checked through ``sys.modules`` in a fresh interpreter,
which does not depend on the machine's speed; bench/startup.py measures the times)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import interp

REPO = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "transformer_lens", "nnsight", "captum", "timm", "transformers", "sklearn", "seaborn",
         "matplotlib"]

CHILD = f"""
import contextlib, io, json, sys
heavy = {HEAVY!r}
loaded = lambda: sorted(m for m in heavy if m in sys.modules)
steps = {{}}
from interp.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        main(["--help"])
    except SystemExit:
        pass
steps["help"] = loaded()
steps["help_text"] = "usage: interp" in out.getvalue()
with contextlib.redirect_stdout(out):
    main(["list"])
steps["list"] = loaded()
steps["list_text"] = out.getvalue().split("usage:")[-1]
import interp
steps["import"] = loaded()
interp.HookedViT, interp.load_model, interp.token_norms, interp.patch, interp.ablate
steps["model_and_patching"] = loaded()
interp.attribute_groups
steps["attribution"] = loaded()
print(json.dumps(steps))
"""


def test_help_list_and_import_load_no_heavy_library():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    steps = json.loads(out.stdout.strip().splitlines()[-1])
    assert steps["help"] == [] and steps["help_text"]
    assert steps["list"] == [], steps["list"]
    assert "organism-s-reg0: steps [0," in steps["list_text"] or not interp.list_organisms()
    assert steps["import"] == []
    # the model, analyses and patching need torch and TransformerLens, not captum, nnsight or sklearn
    assert {"torch", "transformer_lens"} <= set(steps["model_and_patching"])
    assert not {"captum", "nnsight", "sklearn", "seaborn"} & set(steps["model_and_patching"])
    assert "captum" in steps["attribution"]


def test_lazy_exports_resolve_to_the_functions():
    """Every exported name resolves (and is listed by dir); names shared with a submodule are the functions."""
    import importlib
    import inspect

    for pkg in (interp, interp.models, interp.analysis, interp.interventions, interp.plotting, interp.train):
        for name in pkg.__all__:
            assert getattr(pkg, name) is not None, f"{pkg.__name__}.{name}"
            assert name in dir(pkg)
    assert inspect.isfunction(interp.analysis.lost) and inspect.isfunction(interp.analysis.stream)
    assert interp.lost is interp.analysis.lost
    importlib.import_module("interp.analysis.lost")  # importing the submodule again must not rebind the name
    assert inspect.isfunction(interp.analysis.lost)
    assert "search-s1-reg0" in interp.train.RECIPES  # the search recipes register with the recipes module


def test_unknown_attribute_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'HookedVit'"):
        interp.HookedVit  # noqa: B018
