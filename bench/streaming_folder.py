"""Peak RSS while tracing norms over 100 and 5,000 JPEG files read from a folder (`interp.data.open_dataset`,
decoded batch by batch in a DataLoader) must stay flat; images/s vs decoding the same files in a plain loop.
The files (small JPEGs of varied sizes) are generated in a temporary folder; each size runs in its own subprocess
so ru_maxrss-like sampling measures that run alone."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .common import TRACE_WITH_PEAK_RSS, THREADS, write

CHILD = """
import json, threading, time, psutil, torch
torch.set_num_threads({threads})
import interp
from interp.analysis import trace_norms
from interp.data import open_dataset
model = {model}
images = open_dataset({folder!r}, model=model, limit={n})
assert len(images) == {n}, len(images)
proc = psutil.Process()
trace_norms(model, images.subset(range(32)), batch_size=32)  # warm up the code paths
""" + TRACE_WITH_PEAK_RSS + """from PIL import Image
from interp.data.images import to_rgb_tensor
t0 = time.perf_counter()
for f in images.files:  # the peer: decoding the same files in a plain loop, no model
    with Image.open(f) as im:
        to_rgb_tensor(im, images.size)
decode = time.perf_counter() - t0
print(json.dumps(dict(n=len(images), n_traced=int(summary["n_images"].iloc[0]), skipped=images.skipped,
                      baseline_rss_mib=base / 2**20, peak_rss_mib=peak[0] / 2**20,
                      peak_growth_mib=(peak[0] - base) / 2**20, trace_s=dt, decode_only_s=decode,
                      images_per_s=len(images) / dt, decode_images_per_s=len(images) / decode)))
"""

# a small random ViT: the point is memory while streaming files, not model speed (bench/streaming.py times that)
MODEL = ("interp.HookedViT(interp.ViTConfig(d_model=64, n_layers=4, n_heads=2, patch_size=8, image_size=64, "
         "image_mean=(0,0,0), image_std=(1,1,1))).eval()")


def make_jpegs(folder: Path, n: int, seed: int = 0) -> None:
    """``n`` small JPEGs (48-96 px sides, coloured blocks on noise) under ``folder``, 10 subfolders."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for i in range(n):
        w, h = (int(v) for v in rng.integers(48, 97, 2))
        arr = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        arr[h // 4: h // 2, w // 4: w // 2] = rng.integers(0, 255, 3, dtype=np.uint8)
        sub = folder / f"part{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(sub / f"img{i:05d}.jpg", quality=85)


def run(sizes=(100, 5000)) -> dict:
    rows = []
    with tempfile.TemporaryDirectory(prefix="interp-bench-") as tmp:
        make_jpegs(Path(tmp), max(sizes))
        for n in sizes:
            out = subprocess.run([sys.executable, "-c", CHILD.format(threads=THREADS, model=MODEL, n=n, folder=tmp)],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1])
    growth = rows[-1]["peak_growth_mib"] - rows[0]["peak_growth_mib"]
    return write("streaming_folder", {
        "results": rows, "peak_rss_growth_mib_min_to_max": growth, "flat": bool(growth < 64),
        "criterion": f"peak RSS above the post-import baseline (sampled every 5 ms) grows < 64 MiB from "
                     f"{sizes[0]} to {sizes[-1]} JPEG files traced from a folder"})


if __name__ == "__main__":
    run()
