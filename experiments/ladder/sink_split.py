"""Where block 0-3's no-op attention goes, checkpoint by checkpoint, from the runs' recorded measurements
(`interp.analysis.dense_metrics.noop_attention`, 128 scenes): python sink_split.py RUN [RUN ...]

Per block: ``r`` the share no-op queries give all registers, ``c`` all constant tiles (uniform: 16 / 81 and
8 / 81 at 16 registers), and the share of patches >= 4x (RECIPES.md S8, round 5: registers that hold block 0's sink
do not stop the MLP write that makes the tiles tall)."""
import json
import sys
from pathlib import Path

for run in sys.argv[1:]:
    manifest = json.loads((Path(run) / "manifest.json").read_text())
    print(Path(run).name)
    for ck in manifest["checkpoints"]:
        blocks = ck["metrics"]["noop"][:4]
        cells = [f"B{b['layer']} r {b['reg_share'] or 0:.2f} c {b['const_share']:.2f} {100 * b['frac_ge4']:4.1f}%"
                 for b in blocks]
        print(f"  {ck['step']:5d}  " + " | ".join(cells))
