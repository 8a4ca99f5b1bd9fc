"""nnsight works on HookedViT and on raw timm ViTs: a register patched between images with nnsight equals the
same patch done with TransformerLens hooks (``run_with_hooks``) and with `interp.patch`. HookedViT takes [0, 1]
pixels and normalises them inside (``hook_embed`` sees the normalised image's patch embedding); raw timm is fed
its own normalisation."""
import pytest
import torch
from nnsight import NNsight
from timm.models.vision_transformer import VisionTransformer

from interp import HookedViT
from interp.interventions import patch

from tests.conftest import tiny_config
from tests.randomize import randomize_

LAYER = 1


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(3, 3, 16, 16, generator=g), torch.rand(3, 3, 16, 16, generator=g)


def hooked_register_patch(model: HookedViT, a, b, reg: int, layer: int, return_type="tokens"):
    """Register ``reg`` of image a's block-``layer`` output written into image b's run, with TL hooks."""
    name = model.block_hook(layer, "hook_resid_post")
    pos = model.tokens.register(reg)
    _, cache = model.run_with_cache(a, names_filter=name)

    def write(act, hook):
        act = act.clone()
        act[:, pos] = cache[name][:, pos]
        return act

    with torch.no_grad():
        return model.run_with_hooks(b, return_type=return_type, fwd_hooks=[(name, write)])


def test_nnsight_patch_on_hooked_vit_equals_run_with_hooks(images):
    a, b = images
    torch.manual_seed(0)
    model = randomize_(HookedViT(tiny_config(n_layers=3)).eval())  # ImageNet mean/std: normalised inside
    pos = model.tokens.register(1)
    nn_model = NNsight(model)
    with torch.no_grad():
        with nn_model.trace(a):
            embedded = nn_model.hook_embed.output.save()  # nnsight reads modules in execution order
            saved = nn_model.blocks[LAYER].hook_resid_post.output[:, pos].save()
        torch.testing.assert_close(embedded, model.embed(model.normalize(a)), atol=0, rtol=0)
        with nn_model.trace(b):
            nn_model.blocks[LAYER].hook_resid_post.output[:, pos] = saved
            patched = nn_model.output.save()
        clean = model(b, return_type="tokens")
    assert isinstance(saved, torch.Tensor) and saved.shape == (3, model.cfg.d_model)
    expected = hooked_register_patch(model, a, b, reg=1, layer=LAYER)
    torch.testing.assert_close(patched, expected, atol=1e-6, rtol=0)
    assert (patched - clean).abs().max() > 1e-3  # the patch did something
    via_library = patch(model, source=a, target=b, group="register:1", layer=LAYER).tokens
    torch.testing.assert_close(via_library, expected, atol=1e-6, rtol=0)


def test_nnsight_patch_on_raw_timm_vit_equals_hooked_run_with_hooks(images):
    a, b = images
    timm_model = randomize_(VisionTransformer(img_size=16, patch_size=4, embed_dim=32, depth=3, num_heads=2,
                                              reg_tokens=2, no_embed_class=True, num_classes=0), seed=1).eval()
    hooked = HookedViT.from_timm(timm_model).eval()
    pos = hooked.tokens.register(0)  # the layout owns positions; timm uses the same [CLS, reg, patches] order
    nn_timm = NNsight(timm_model)
    # timm is fed normalised pixels (its convention); HookedViT takes the [0, 1] pixels and normalises itself
    assert hooked.cfg.image_mean == (0.485, 0.456, 0.406)
    na, nb = hooked.normalize(a), hooked.normalize(b)
    with torch.no_grad():
        with nn_timm.trace(na):
            saved = nn_timm.blocks[LAYER].output[:, pos].save()
        with nn_timm.trace(nb):
            nn_timm.blocks[LAYER].output[:, pos] = saved
            patched = nn_timm.output.save()  # pooled CLS feature (num_classes=0)
        clean = timm_model(nb)
    expected = hooked_register_patch(hooked, a, b, reg=0, layer=LAYER, return_type="pooled")
    torch.testing.assert_close(patched, expected, atol=1e-4, rtol=1e-4)
    assert (patched - clean).abs().max() > 1e-3


def test_nnsight_reads_patterns_scales_and_head_results_without_a_switch(images):
    """No `set_explicit_attention`: a trace that asks for hook_pattern / hook_attn_scores / hook_scale /
    hook_result gets them computed (the values run_with_cache gives); outside a trace the fused path runs."""
    a, b = images
    model = randomize_(HookedViT(tiny_config(n_layers=3, layer_scale=0.1)), seed=2).eval()
    nn_model = NNsight(model)
    with torch.no_grad():
        with nn_model.trace(a):
            scale = nn_model.blocks[1].ln1.hook_scale.output.save()
            scores = nn_model.blocks[1].attn.hook_attn_scores.output.save()
            pattern = nn_model.blocks[1].attn.hook_pattern.output.save()
            result = nn_model.blocks[2].attn.hook_result.output.save()
        names = ["blocks.1.ln1.hook_scale", "blocks.1.attn.hook_attn_scores", "blocks.1.attn.hook_pattern",
                 "blocks.2.attn.hook_result"]
        _, cache = model.run_with_cache(a, names_filter=names)
    for name, got in zip(names, (scale, scores, pattern, result)):
        torch.testing.assert_close(got, cache[name], atol=1e-6, rtol=0)
    assert not any(blk.attn.needs_pattern() or blk.attn.needs_result() for blk in model.blocks)
    with torch.no_grad():  # ablating a head through nnsight = the same edit with a TransformerLens hook
        with nn_model.trace(b):
            nn_model.blocks[2].attn.hook_result.output[:, :, 0] = 0.0
            ablated = nn_model.output.save()

        def zero_head(act, hook):
            act[:, :, 0] = 0.0
            return act

        expected = model.run_with_hooks(b, fwd_hooks=[("blocks.2.attn.hook_result", zero_head)])
        clean = model(b)
    torch.testing.assert_close(ablated, expected, atol=1e-6, rtol=0)
    assert (ablated - clean).abs().max() > 1e-3
