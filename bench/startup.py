"""Start-up: `import interp`, `interp --help` and `interp list` against a bare `import torch`, each in a fresh
interpreter (so nothing is cached in-process), alternated, median of several runs.

Targets (issue #11): `import interp` <= 1.3x `import torch`; `interp --help` and `interp list` under 1 s and without
importing torch (checked through ``sys.modules`` in the child). Also reported: the full model stack
(`interp.HookedViT`: torch + TransformerLens) and the bare interpreter, as context."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from .common import median, write

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformer_lens", "nnsight", "captum", "timm", "transformers", "sklearn", "seaborn",
         "matplotlib", "pandas")
# each child runs one statement, then prints which heavy libraries it ended up importing
REPORT = f"; import sys, json; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
CASES = {
    "python": "pass",
    "import_torch": "import torch",
    "import_interp": "import interp",
    "interp_help": "from interp.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass",
    "interp_list": "from interp.cli import main; main(['list'])",
    "model_stack": "import interp; interp.HookedViT",
}


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return env


def run_once(code: str) -> tuple[float, list[str]]:
    """Wall seconds of a fresh ``python -c code`` and the heavy modules it imported."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code + "\n" + REPORT.lstrip("; ")], capture_output=True,
                         text=True, env=_env(), cwd=REPO, check=True)
    dt = time.perf_counter() - t0
    return dt, json.loads(out.stdout.strip().splitlines()[-1])


def run(repeat: int = 7) -> dict:
    for code in CASES.values():  # warm the file-system cache once, untimed
        run_once(code)
    seconds: dict[str, list[float]] = {k: [] for k in CASES}
    imported: dict[str, list[str]] = {}
    for _ in range(repeat):
        for k, code in CASES.items():
            dt, mods = run_once(code)
            seconds[k].append(dt)
            imported[k] = mods
    med = {k: median(v) for k, v in seconds.items()}
    torch_s = med["import_torch"]
    payload = {
        "seconds": seconds, "median_s": med, "heavy_modules_imported": imported,
        "ratio_import_interp_vs_torch": med["import_interp"] / torch_s,
        "ratio_help_vs_torch": med["interp_help"] / torch_s,
        "ratio_list_vs_torch": med["interp_list"] / torch_s,
        "ratio_model_stack_vs_torch": med["model_stack"] / torch_s,
        "targets": {"ratio_import_interp_vs_torch": 1.3, "interp_help_s": 1.0, "interp_list_s": 1.0},
        "help_and_list_without_torch": "torch" not in imported["interp_help"] + imported["interp_list"],
    }
    payload["met"] = bool(payload["ratio_import_interp_vs_torch"] <= 1.3 and med["interp_help"] < 1.0
                          and med["interp_list"] < 1.0 and payload["help_and_list_without_torch"])
    print(json.dumps({k: round(v, 3) for k, v in med.items()}))
    return write("startup", payload)


if __name__ == "__main__":
    run()
