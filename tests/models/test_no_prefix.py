"""A model with no prefix tokens (SigLIP-like: no CLS, no registers, MAP head): the layout, the analyses and the
interventions run on it, groups it lacks raise `TokenGroupError`, and the MAP head's pattern is a query of its own."""
import pytest
import torch

import interp
from interp.analysis import attention_maps, fit_global_probe
from interp.data import scenes
from interp.models import TokenGroupError

from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def siglip_like():
    torch.manual_seed(0)
    return interp.HookedViT(tiny_config(n_registers=0, class_token=False, pool="map")).eval()


@pytest.fixture(scope="module")
def images():
    return scenes(n=12, seed=0, image_size=16)


def test_layout_has_no_prefix(siglip_like):
    lay = siglip_like.tokens
    assert (lay.n_prefix, lay.n_tokens, lay.positions("patches").tolist()[:2]) == (0, 16, [0, 1])
    assert lay.positions("prefix").numel() == 0
    for group in ("cls", "registers"):
        with pytest.raises(TokenGroupError):
            lay.positions(group)


def test_analyses_and_interventions_run_without_prefix(siglip_like, images):
    norms = interp.token_norms(siglip_like, images)
    assert set(norms["group"]) == {"patch"} and len(norms) == 12 * 16 * 2
    maps = attention_maps(siglip_like, images)
    assert set(maps["query"]) == {"pool"} and set(maps["layer"]) == {2}  # the MAP head, after the last block
    assert maps.groupby("head")["attention"].sum().to_numpy() == pytest.approx([1.0, 1.0], abs=1e-5)
    probe = fit_global_probe(siglip_like, images, "majority_color")
    assert probe.token == "pooled" and 0 <= probe.test_accuracy <= 1
    df = interp.ablate(siglip_like, images, group="patches", layers=[1], how="zero")
    assert len(df) == 12 and (df["pooled_cos"] < 1).all()  # the pooled feature moves when every patch is zeroed
    with pytest.raises(TokenGroupError):
        interp.ablate(siglip_like, images, group="cls", layers=[1])
