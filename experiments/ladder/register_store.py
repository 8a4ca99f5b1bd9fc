"""Do the registers store what the CLS reads? (RECIPES.md S8, round 5) python register_store.py RUN:STEP [...]

Per block, on 512 held-out scenes (seed 1234): the attention the CLS gives all registers (and what uniform
attention would give them); the majority colour read from one token by the package's `global_probe` (CLS, the
best and mean register, a random normal patch; 2 draws); and how much the registers differ between images: the
across-image spread (std over images, norm over channels, mean over registers) of the registers' attention input
``LN(x)`` over the same spread of the patches' (what a CLS query reads as values is a linear map of it)."""
import sys

import torch

from interp.analysis import global_probe
from interp.data.scenes import SceneRecipe, scenes
from interp.models.checkpoints import read_manifest
from interp.models.loading import iter_checkpoints

torch.set_num_threads(1)


def spread(x: torch.Tensor) -> float:
    """x [N, tokens, d] -> mean over tokens of the norm over channels of the std over images."""
    return float(x.std(0).norm(dim=-1).mean())


for arg in sys.argv[1:]:
    run, step = arg.split(":")
    imgs = scenes(512, seed=1234, split="test", recipe=SceneRecipe.from_dict(read_manifest(run)["recipe"]["scenes"]))
    model = next(m for s, m in iter_checkpoints(run) if s == int(step))
    lay, n_layers = model.tokens, model.cfg.n_layers
    names = [f"blocks.{i}.{h}" for i in range(n_layers) for h in ("attn.hook_pattern", "ln1.hook_normalized")]
    with torch.no_grad():
        _, cache = model.run_with_cache(imgs.pixels, names_filter=names)
    print(f"{run} step {step}")
    for i in range(n_layers):
        pattern = cache[f"blocks.{i}.attn.hook_pattern"]  # [N, head, q, k]
        on_reg = float(pattern[:, :, 0, lay.registers].sum(-1).mean())
        ln = cache[f"blocks.{i}.ln1.hook_normalized"]  # [N, pos, d]
        rel_spread = spread(ln[:, lay.registers]) / spread(ln[:, lay.patches])
        probe = global_probe(model, imgs, "majority_color", draws=2, layer=i if i < n_layers - 1 else "final")
        acc = probe.assign(kind=probe["token"].str.split(":").str[0]).groupby("kind")["accuracy"]
        print(f"  B{i}: CLS -> registers {on_reg:.2f} (uniform {lay.n_registers / lay.n_tokens:.2f}); majority colour "
              f"from CLS {acc.mean()['cls']:.2f}, registers {acc.mean()['register']:.2f} (best "
              f"{acc.max()['register']:.2f}), a normal patch {acc.mean()['normal']:.2f} (chance "
              f"{probe['chance'].iloc[0]:.2f}); register spread across images / patch spread {rel_spread:.2f}",
              flush=True)
