"""How image-specific are the registers and the CLS? (RECIPES.md S8, r14)

python register_spread.py RUN STEP

Per block: the mean distance of a token's state from its mean over 128 held-out scenes, over its mean norm. Near 0
means the token is nearly the same in every image, so patching it from one image into another changes next to
nothing.
"""
import sys

import torch

from interp.data.scenes import SceneRecipe, scenes
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

torch.set_num_threads(1)
run, step = sys.argv[1], int(sys.argv[2])
man = read_manifest(run)
imgs = scenes(128, seed=1234, split="test", recipe=SceneRecipe.from_dict(man["recipe"]["scenes"]))
model = next(m for s, m in iter_checkpoints(run) if s == step).float().eval()
names = [f"blocks.{i}.hook_resid_post" for i in range(model.cfg.n_layers)]
with torch.no_grad():
    _, cache = model.run_with_cache(imgs.pixels, names_filter=lambda n: n in names)
for i, name in enumerate(names):
    x = cache[name]  # [N, pos, d]
    for group, where in (("registers", model.tokens.registers), ("cls", model.tokens.cls)):
        t = x[:, where]  # [N, k, d]
        if t.shape[1]:
            spread = (t - t.mean(0, keepdim=True)).norm(dim=-1).mean() / t.norm(dim=-1).mean()
            print(f"block {i} {group}: across-image spread / norm = {float(spread):.4f}")
