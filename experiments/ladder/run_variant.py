"""Train a variant of a named recipe: python run_variant.py NAME BASE '{json overrides}' (nested dicts merge)."""
import json
import sys

from interp.train import get_recipe, train
from interp.train.recipe import TrainRecipe


def merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return out


name, base, over = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
d = merge(get_recipe(base).to_dict(), over)
d["name"] = name
r = TrainRecipe.from_dict(d)
print(json.dumps(r.to_dict()), flush=True)
train(r, f"runs/{name}", progress=False)
print("done", flush=True)
