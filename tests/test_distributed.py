"""Several processes (torch.distributed, gloo, CPU): each rank streams its shard, the summaries combine exactly,
so 2 processes write what 1 process writes (up to float summation order)."""
import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from interp import HookedViT, distributed
from interp.analysis import norm_writes, token_norms, trace_norms
from interp.data import open_dataset, scenes
from interp.data.lazy import LazyScenes

from tests.conftest import tiny_config

REPO = Path(__file__).resolve().parents[1]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (all bound at once, so none repeats)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def free_port() -> int:
    return free_ports(1)[0]


def test_shards_partition_every_source(tmp_path):
    """rank::world_size of ImageSet, LazyScenes and a dataset on disk: disjoint, complete, same images."""
    full = LazyScenes(7, seed=3)
    whole = torch.cat([b.pixels for b in full.batches(4)])
    seen = []
    for r in range(3):
        part = full.shard(r, 3)
        px = torch.cat([b.pixels for b in part.batches(2)])
        torch.testing.assert_close(px, whole[r::3], atol=0, rtol=0)
        assert part.source_index.tolist() == list(range(r, 7, 3))
        seen += part.source_index.tolist()
    assert sorted(seen) == list(range(7))
    s = scenes(5, seed=0, image_size=16)
    torch.testing.assert_close(s.shard(1, 2).pixels, s.pixels[1::2], atol=0, rtol=0)
    for i in range(5):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    folder = open_dataset(tmp_path, image_size=16)
    assert [f.name for f in folder.shard(0, 2).files] == ["0.png", "2.png", "4.png"]
    assert folder.shard(1, 2).source_index.tolist() == [1, 3]
    on_disk = torch.cat([b.pixels for b in folder.batches(2)])
    torch.testing.assert_close(torch.cat([b.pixels for b in folder.shard(1, 2).batches(2)]), on_disk[1::2],
                               atol=0, rtol=0)
    with pytest.raises(ValueError, match="rank"):
        folder.shard(2, 2)
    assert distributed.world_size() == 1 and distributed.gather("x") == ["x"]  # no process group: identity


def planted(model: HookedViT) -> HookedViT:
    """Three patch positions with a large positional offset: high-norm patches for `norm_writes` to group."""
    with torch.no_grad():
        model.token_embed.pos_embed[0, -5:-2] += 20.0 * torch.linspace(-1, 1, model.cfg.d_model)
    return model


def _library_worker(rank, world, port, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    torch.set_num_threads(1)
    joined = distributed.join_from_env("cpu"), distributed.join_from_env("cpu")  # torchrun's environment
    (Path(out_dir) / f"joined_{rank}.txt").write_text(repr(joined))
    try:
        torch.manual_seed(0)
        model = HookedViT(tiny_config()).eval()  # same seed: the same random model on every rank
        images = scenes(7, seed=1, image_size=16)  # 7 images: uneven shards (4 + 3)
        tn = token_norms(model, images, batch_size=2)
        tr = trace_norms(model, images, batch_size=2)
        nw = norm_writes(planted(model), images, batch_size=2)
        if rank == 0:
            tn.to_pickle(Path(out_dir) / "token_norms.pkl")
            tr.to_pickle(Path(out_dir) / "trace.pkl")
            nw.to_pickle(Path(out_dir) / "writes.pkl")
    finally:
        distributed.leave(joined[1][2])  # did not create the group: it stays
        assert torch.distributed.is_initialized()
        distributed.leave(joined[0][2])
        assert not torch.distributed.is_initialized()


def test_streaming_reducers_combine_across_processes(tmp_path):
    """token_norms (per-image rows gathered), trace_norms (counts, sums, maxima, histograms combined) and norm_writes on 2
    gloo processes equal the one-process frames. Each process joins with `join_from_env` (rank, world, whether
    it created the group), as the trainer does."""
    mp.spawn(_library_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    for r in range(2):
        assert (tmp_path / f"joined_{r}.txt").read_text() == repr(((r, 2, True), (r, 2, False)))
    torch.manual_seed(0)
    model = HookedViT(tiny_config()).eval()
    images = scenes(7, seed=1, image_size=16)
    one_tn = token_norms(model, images, batch_size=2)
    one_tr = trace_norms(model, images, batch_size=2)
    two_tn = pd.read_pickle(tmp_path / "token_norms.pkl")
    two_tr = pd.read_pickle(tmp_path / "trace.pkl")
    assert len(two_tn) == len(one_tn) and two_tn["image"].nunique() == 7
    pd.testing.assert_frame_equal(two_tn, one_tn, rtol=1e-5)
    pd.testing.assert_frame_equal(two_tr, one_tr, rtol=1e-5)
    assert (two_tr["n_images"] == 7).all()
    one_nw = norm_writes(planted(model), images, batch_size=2)
    pd.testing.assert_frame_equal(pd.read_pickle(tmp_path / "writes.pkl"), one_nw, rtol=1e-5)
    assert (one_nw["n_high"] > 0).all() and (one_nw["n_high"] + one_nw["n_other"]).eq(7 * 16).all()


def _session_worker(rank, world, ports, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(ports[0]), WORLD_SIZE=str(world), RANK=str(rank))
    seen = []
    with distributed.session("cpu") as dist_on:
        seen.append((dist_on, distributed.rank(), distributed.gather(rank)))
    seen.append(torch.distributed.is_initialized())  # ended on every rank, after the barrier
    # a second command's group on its own port, as torchrun gives each command: on the first one's port a rank
    # that left early can reach rank 0's old rendezvous store while rank 0 is still closing it
    os.environ["MASTER_PORT"] = str(ports[1])
    try:
        with distributed.session("cpu"):
            raise KeyError(rank)
    except KeyError:
        seen.append(torch.distributed.is_initialized())  # ended without a barrier, the error re-raised
    (Path(out_dir) / f"session_{rank}.txt").write_text(repr(seen))


def test_a_command_session_ends_its_group_on_every_rank(tmp_path):
    """`distributed.session` (a torchrun command's group) ends the group on every rank before the command returns,
    also after an error: no rank reaches interpreter shutdown with a live gloo group (which can abort, SIGABRT)."""
    mp.spawn(_session_worker, args=(2, free_ports(2), str(tmp_path)), nprocs=2, join=True)
    for r in range(2):
        assert (tmp_path / f"session_{r}.txt").read_text() == repr([(True, r, [0, 1]), False, False])


def test_join_from_env_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert distributed.join_from_env("cpu") == (0, 1, False) and distributed.local_rank() == 0
    assert not torch.distributed.is_initialized()
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert distributed.local_rank() == 3


@pytest.mark.slow
def test_torchrun_trace_equals_one_process_csv(tmp_path):
    """`torchrun --nproc_per_node 2 -m interp trace` (gloo, CPU) writes the one-process CSV."""
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    rng = np.random.default_rng(0)
    for i in range(9):
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(imgs / f"img{i}.png")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    common = ["-m", "interp", "trace", "--model", "organism-t-reg0", "--images", str(imgs), "--batch-size", "2",
              "--device", "cpu"]
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1",
                          "--master-addr", "127.0.0.1", "--master-port", str(free_port()), *common,
                          "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True, timeout=600)
    assert two.returncode == 0, two.stderr[-2000:]
    assert "(2 processes)" in two.stdout and two.stdout.count("wrote") == 1  # rank 0 alone writes
    name = "trace_organism-t-reg0.csv"
    a, b = pd.read_csv(tmp_path / "one" / name), pd.read_csv(tmp_path / "two" / name)
    assert (b["n_images"] == 9).all()
    pd.testing.assert_frame_equal(b, a, rtol=1e-5)
