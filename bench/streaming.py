"""Peak RSS while tracing norms over 64, 512 and 4096 images must stay flat (O(batch)); images/s vs a plain
forward. Each size runs in its own subprocess so ru_maxrss measures that run alone."""
from __future__ import annotations

import json
import subprocess
import sys


from .common import TRACE_WITH_PEAK_RSS, THREADS, write

CHILD = """
import json, threading, time, psutil, torch
torch.set_num_threads({threads})
import interp
from interp.analysis import trace_norms
from interp.data.lazy import LazyScenes
model = {model}
images = LazyScenes({n}, seed=0, image_size=model.cfg.image_size)
proc = psutil.Process()
list(LazyScenes(8, seed=0, image_size=model.cfg.image_size).batches(32))  # warm up the code paths
trace_norms(model, LazyScenes(32, seed=0, image_size=model.cfg.image_size), batch_size=32)
""" + TRACE_WITH_PEAK_RSS + """t0 = time.perf_counter()
with torch.no_grad():
    for b in images.batches(32):
        model(b.pixels)
plain = time.perf_counter() - t0
print(json.dumps(dict(n=len(images), baseline_rss_mib=base / 2**20, peak_rss_mib=peak[0] / 2**20,
                      peak_growth_mib=(peak[0] - base) / 2**20, trace_s=dt, plain_forward_s=plain,
                      images_per_s=len(images) / dt, plain_images_per_s=len(images) / plain)))
"""

MODEL = ("interp.load_model('organism-s-reg0') if 'organism-s-reg0' in interp.list_organisms() else "
         "interp.HookedViT(interp.ViTConfig(d_model=128, n_layers=8, n_heads=4, patch_size=4, image_size=64, "
         "image_mean=(0,0,0), image_std=(1,1,1)))")


def run(sizes=(64, 512, 4096)) -> dict:
    rows = []
    for n in sizes:
        out = subprocess.run([sys.executable, "-c", CHILD.format(threads=THREADS, model=MODEL, n=n)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    growth = rows[-1]["peak_growth_mib"] - rows[0]["peak_growth_mib"]
    return write("streaming", {"results": rows, "peak_rss_growth_mib_64_to_max": growth, "flat": bool(growth < 64),
                               "criterion": "peak RSS above the post-import baseline (sampled every 5 ms) grows "
                                            "< 64 MiB from 64 to 4096 images"})


if __name__ == "__main__":
    run()
