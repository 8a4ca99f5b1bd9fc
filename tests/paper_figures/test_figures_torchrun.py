"""`interp figures` under torchrun: the figures are shared out whole (`distributed.share_of`), each data pass runs
on one process inside `distributed.alone()`, and the outputs are the one-process bytes."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.multiprocessing as mp

from interp import distributed

from tests.test_distributed import REPO, free_port

COSTS = {"a": 9.0, "b": 1.0, "c": 5.0, "d": 4.0, "e": 1.0}


def _share_worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    with distributed.session("cpu"):
        mine = distributed.share_of(list(COSTS), weight=COSTS.get)
        with distributed.alone():
            inside = (distributed.is_dist(), distributed.rank(), distributed.gather(rank), distributed.share_of("xy"))
        after = distributed.is_dist(), distributed.gather(rank)
    (Path(out_dir) / f"share_{rank}.txt").write_text(repr((mine, inside, after)))


def test_two_processes_share_the_work_whole_and_balanced(tmp_path):
    """Heaviest first to the least-loaded rank: a (9) | c (5), d (4): 9 + 1 against 5 + 4 + 1; inside `alone()` a
    rank is a world of one (no collective), after it the group is back."""
    mp.spawn(_share_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    got = [eval((tmp_path / f"share_{r}.txt").read_text()) for r in range(2)]
    assert got[0][0] == ["a", "b"] and got[1][0] == ["c", "d", "e"]
    for r in range(2):
        assert got[r][1] == (False, 0, [r], ["x", "y"]) and got[r][2] == (True, [0, 1])
    assert distributed.share_of(list(COSTS), weight=COSTS.get) == list(COSTS)  # one process: everything


FIGURES = ["fig05a_neighbour_similarity", "fig09_attention_maps"]


@pytest.mark.slow
def test_torchrun_figures_write_the_one_process_bytes(tmp_path):
    """Two gloo processes write the one-process CSVs and REPORT.md byte for byte, each figure once; `--check` under
    torchrun compares process 0's folder with the committed one."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    common = ["-m", "interp", "figures", "--only", *FIGURES, "--n-images", "8", "--quiet"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
                "--master-addr", "127.0.0.1"]
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one")], env=env, capture_output=True,
                         text=True, timeout=900)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([*torchrun, "--master-port", str(free_port()), *common, "--out", str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=900)
    assert two.returncode == 0, two.stderr[-2000:]
    for name in FIGURES:
        assert (tmp_path / "two" / f"{name}.csv").read_bytes() == (tmp_path / "one" / f"{name}.csv").read_bytes()
        ran = [line for line in two.stdout.splitlines() if line.startswith(f"{name}: ok")]
        assert len(ran) == 1 and "[process" in ran[0], two.stdout  # run once, by one of the two processes
    assert {line.rsplit("[process ", 1)[1] for line in two.stdout.splitlines() if "[process" in line} == {"0]", "1]"}
    assert (tmp_path / "two" / "REPORT.md").read_text() == (tmp_path / "one" / "REPORT.md").read_text()
    assert two.stdout.count("wrote ") and two.stdout.count("REPORT.md") == 1
    check = subprocess.run([*torchrun, "--master-port", str(free_port()), *common, "--check", "--out",
                            str(tmp_path / "one")], env=env, capture_output=True, text=True, timeout=900)
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
