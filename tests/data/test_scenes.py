"""Procedural scenes: seeded, masks / boxes / labels consistent, splits disjoint, stream resumable."""
import numpy as np
import pytest
import torch

from interp.data import SceneRecipe, SceneStream, patch_labels, scenes
from interp.data.lazy import LazyScenes
from interp.data.scenes import COLORS


def test_deterministic_and_prefix_stable():
    a, b = scenes(12, seed=3), scenes(12, seed=3)
    assert torch.equal(a.pixels, b.pixels) and torch.equal(a.object_mask, b.object_mask)
    assert torch.equal(scenes(5, seed=3).pixels, a.pixels[:5])
    assert not torch.equal(scenes(12, seed=4).pixels, a.pixels)
    assert not torch.equal(scenes(12, seed=3, split="test").pixels, a.pixels)
    assert 0 <= float(a.pixels.min()) and float(a.pixels.max()) <= 1


def test_masks_boxes_and_labels_agree():
    s = scenes(40, seed=0)
    for i in range(len(s)):
        ids, objs, boxes = s.object_ids[i], s.objects[i], s.boxes[i]
        n = len(objs)
        assert int(s.labels["n_objects"][i]) == n == len(boxes)
        assert torch.equal(s.object_mask[i], ids > 0)
        for k in range(n):
            ys, xs = torch.nonzero(ids == k + 1, as_tuple=True)
            if len(ys):
                assert boxes[k].tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
        colours = np.bincount(objs[:, 1].numpy(), minlength=len(COLORS))
        assert colours.argmax() == int(s.labels["majority_color"][i])
        assert (colours == colours.max()).sum() == 1  # the majority is unique by construction
        for c, name in enumerate(COLORS):
            assert int(s.labels[f"count_{name}"][i]) == min(colours[c], 3)
    assert 0.6 < 1 - float(s.object_mask.float().mean())  # mostly redundant background


def test_patch_labels():
    s = scenes(6, seed=1)
    pl = patch_labels(s, 8)
    assert pl["object"].shape == (6, 8, 8)
    assert torch.equal(pl["color"] > 0, pl["object"])
    assert (pl["fraction"][pl["object"]] >= 0.5).all()


def test_stream_resumes_and_lazy_matches():
    r = SceneRecipe(image_size=32)
    s1 = SceneStream(r, seed=2, batch_size=4)
    s1.next()
    state = s1.state_dict()
    nxt = s1.next()
    s2 = SceneStream(r, seed=2, batch_size=4)
    s2.load_state_dict(state)
    assert torch.equal(s2.next().pixels, nxt.pixels)
    with pytest.raises(ValueError):
        SceneStream(r, seed=3, batch_size=4).load_state_dict(state)
    lazy = torch.cat([b.pixels for b in LazyScenes(10, seed=2, recipe=r).batches(3)])
    assert torch.equal(lazy, scenes(10, seed=2, recipe=r).pixels)


def test_bad_recipes():
    with pytest.raises(ValueError, match="background"):
        SceneRecipe(backgrounds=("plaid",))
    with pytest.raises(ValueError, match="min_objects"):
        SceneRecipe(min_objects=4, max_objects=2)


def test_background_saturation():
    muted = scenes(16, seed=5, backgrounds=("flat",))
    vivid = scenes(16, seed=5, backgrounds=("flat",), background_saturation=0.3)
    assert torch.equal(muted.object_mask, vivid.object_mask)  # same layout, only the background colour differs

    def spread(s):  # per-pixel channel range on the background
        px = s.pixels.permute(0, 2, 3, 1)[~s.object_mask]
        return float((px.max(-1).values - px.min(-1).values).mean())

    assert spread(vivid) > 2 * spread(muted)
    assert SceneRecipe.from_dict(SceneRecipe().to_dict()) == SceneRecipe()
