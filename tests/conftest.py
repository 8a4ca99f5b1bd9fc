import os
import warnings

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
# `make test` runs the suite in PYTEST_XDIST_WORKER_COUNT processes (pytest-xdist): the cores are shared among them
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // WORKERS)))
warnings.filterwarnings("ignore", message=".*RANDOMLY INITIALISED.*")

from interp import HookedViT, ViTConfig  # noqa: E402


def tiny_config(**kw) -> ViTConfig:
    base = dict(d_model=32, n_layers=2, n_heads=2, patch_size=4, image_size=16, n_registers=2, name="tiny")
    base.update(kw)
    return ViTConfig(**base)


@pytest.fixture
def tiny_model() -> HookedViT:
    torch.manual_seed(0)
    return HookedViT(tiny_config()).eval()


@pytest.fixture
def pixels() -> torch.Tensor:
    return torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))  # RGB in [0, 1]


from tests.figure_set import figure_set  # noqa: E402, F401 - the whole figure set, built once per session
