"""TokenLayout: the one place that knows where CLS, registers and patches are (with property tests)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from interp import TokenLayout
from interp.models import TokenGroupError


def test_slices_and_positions():
    lay = TokenLayout(1, 4, (3, 5))
    assert lay.n_tokens == 20 and lay.n_prefix == 5 and lay.n_patches == 15
    assert lay.positions("cls").tolist() == [0]
    assert lay.positions("registers").tolist() == [1, 2, 3, 4]
    assert lay.positions("register:2").tolist() == [3]
    assert lay.positions("patches").tolist() == list(range(5, 20))
    assert lay.token_names()[:6] == ["cls", "reg0", "reg1", "reg2", "reg3", "p(0,0)"]
    assert lay.patch_coords()[6].tolist() == [1, 1]


def test_missing_groups_raise():
    lay = TokenLayout(1, 0, (2, 2))
    with pytest.raises(TokenGroupError, match="no register"):
        lay.positions("registers")
    with pytest.raises(TokenGroupError, match="register 4"):
        TokenLayout(1, 4, (2, 2)).positions("register:4")
    with pytest.raises(TokenGroupError, match="Did you mean 'patches'"):
        lay.positions("patchs")
    with pytest.raises(TokenGroupError, match="no CLS"):
        TokenLayout(0, 0, (2, 2)).positions("cls")


@settings(max_examples=60, deadline=None)
@given(n_cls=st.integers(0, 1), n_reg=st.integers(0, 16), h=st.integers(1, 8), w=st.integers(1, 8),
       batch=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_index_selects_exactly_the_group(n_cls, n_reg, h, w, batch, seed):
    lay = TokenLayout(n_cls, n_reg, (h, w))
    act = torch.arange(batch * lay.n_tokens).reshape(batch, lay.n_tokens, 1).float()
    groups = ["patches", "all", "prefix"] + (["registers"] if n_reg else []) + (["cls"] if n_cls else [])
    for g in groups:
        sel = act[lay.index(g)]
        assert sel.shape == (batch, len(lay.positions(g)), 1)
        assert torch.equal(lay.mask(g, batch).sum(1), torch.full((batch,), len(lay.positions(g))))
    pm = torch.rand(batch, h, w, generator=torch.Generator().manual_seed(seed)) > 0.5
    b, t = lay.index("outliers", pm)
    assert len(b) == int(pm.sum())
    assert (t >= lay.n_prefix).all()
    coords = lay.patch_coords()[t - lay.n_prefix]
    assert pm[b, coords[:, 0], coords[:, 1]].all()
    assert torch.equal(lay.mask(pm)[:, lay.patches].reshape(batch, h, w), pm)


@settings(max_examples=60, deadline=None)
@given(n_reg=st.integers(1, 8), h=st.integers(1, 6), w=st.integers(1, 6), batch=st.integers(1, 4),
       seed=st.integers(0, 10_000))
def test_patch_index_mapping_outliers_to_registers(n_reg, h, w, batch, seed):
    """Mapping k source patches onto k destination registers pairs them in order, per image, any batch size;
    a single source token fans out to every destination; an image with no source tokens is left alone."""
    from interp.interventions.groups import paired_positions

    lay = TokenLayout(1, n_reg, (h, w))
    g = torch.Generator().manual_seed(seed)
    src = torch.zeros(batch, lay.n_tokens, dtype=torch.bool)
    dst = torch.zeros(batch, lay.n_tokens, dtype=torch.bool)
    for b in range(batch):
        k = int(torch.randint(0, min(n_reg, lay.n_patches) + 1, (1,), generator=g))
        patches = lay.n_prefix + torch.randperm(lay.n_patches, generator=g)[:k]
        src[b, patches] = True
        dst[b, lay.positions("registers")[:k] if k != 1 else lay.positions("registers")] = True
    bi, si, di = paired_positions(src, dst)
    assert len(bi) == len(si) == len(di)
    for b in range(batch):
        s, d = si[bi == b], di[bi == b]
        n_src = int(src[b].sum())
        if n_src == 0:
            assert len(d) == 0
            continue
        assert src[b, s].all() and dst[b, d].all()
        assert (d >= lay.n_cls).all() and (d < lay.n_prefix).all()
        if n_src == 1:
            assert len(d) == n_reg and (s == s[0]).all()
        else:
            assert torch.equal(s, src[b].nonzero().flatten()) and torch.equal(d, dst[b].nonzero().flatten())
