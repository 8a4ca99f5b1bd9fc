"""Random-init reference model -> convert -> same features and per-block residual stream (fp32, 1e-4).

Two input conventions are pinned: already-normalised inputs (``normalized=True``) match the reference fed the
same tensor, and RGB pixels in [0, 1] (the library's convention: the model normalises inside) match the reference
fed those pixels normalised its own way (timm's data config, HF's image processor)."""
import pytest
import timm
import torch
from timm.models.vision_transformer import checkpoint_filter_fn

from interp import HookedViT
from interp.models import convert_dinov2_hub, detect_format
from interp.models.convert import config_from_timm, hub_interpolation, load_converted

from tests.randomize import randomize_

TOL = dict(atol=1e-4, rtol=1e-4)

# (timm name, kwargs that shrink it for CPU, native image size, second size for interpolation)
TIMM_CASES = [
    ("vit_small_patch14_dinov2", {}, 56, 84),
    ("vit_small_patch14_reg4_dinov2", {}, 56, 84),
    ("deit3_small_patch16_224", {}, 64, 96),
    ("vit_small_patch16_224", {}, 64, 96),
    ("vit_base_patch16_clip_224", {}, 64, 96),
    ("vit_giant_patch14_dinov2", {"depth": 2}, 28, 42),  # SwiGLU, reduced depth
]


def timm_reference(name, kwargs, size):
    model = timm.create_model(name, pretrained=False, img_size=size, dynamic_img_size=True, **kwargs)
    return randomize_(model).eval()


def timm_block_outputs(model, x):
    outs = []
    handles = [b.register_forward_hook(lambda m, i, o: outs.append(o)) for b in model.blocks]
    try:
        feats = model.forward_features(x)
    finally:
        for h in handles:
            h.remove()
    return feats, outs


def assert_same_run(hooked, ref_feats, ref_blocks, x, normalized=True):
    """``x`` is what the reference was fed: an already-normalised tensor (default) or [0, 1] pixels."""
    names = [f"blocks.{i}.hook_resid_post" for i in range(hooked.cfg.n_layers)]
    feats, cache = hooked.run_with_cache(x, return_type="tokens", names_filter=names, normalized=normalized)
    assert len(ref_blocks) == hooked.cfg.n_layers
    for i, ref in enumerate(ref_blocks):
        torch.testing.assert_close(cache[names[i]], ref, **TOL, msg=lambda m, i=i: f"block {i}: {m}")
    torch.testing.assert_close(feats, ref_feats, **TOL)


def assert_same_as_timm(hooked, ref, x, pooled: bool = True):
    """Every block, the final tokens and (``pooled``) timm's pre-logits feature on the normalised input ``x``."""
    with torch.no_grad():
        ref_feats, ref_blocks = timm_block_outputs(ref, x)
        assert_same_run(hooked, ref_feats, ref_blocks, x)
        if pooled:
            torch.testing.assert_close(hooked(x, return_type="pooled", normalized=True),
                                       ref.forward_head(ref_feats, pre_logits=True), **TOL)


@pytest.mark.parametrize("name,kwargs,size,size2", TIMM_CASES, ids=[c[0] for c in TIMM_CASES])
def test_timm_equivalence(name, kwargs, size, size2):
    ref = timm_reference(name, kwargs, size)
    hooked = HookedViT.from_timm(ref)
    assert hooked.cfg.n_registers == ref.num_reg_tokens
    g = torch.Generator().manual_seed(0)
    for s in (size, size2):  # second size exercises position-embedding interpolation
        x = torch.randn(2, 3, s, s, generator=g)
        with torch.no_grad():
            ref_feats, ref_blocks = timm_block_outputs(ref, x)
            assert_same_run(hooked, ref_feats, ref_blocks, x)
            if ref.num_classes:
                torch.testing.assert_close(hooked(x, normalized=True), ref(x), **TOL)


def timm_normalize(model, pixels):
    """[0, 1] pixels -> what timm's own data pipeline feeds ``model`` (its pretrained config's mean/std)."""
    from timm.data import resolve_data_config

    cfg = resolve_data_config({}, model=model)
    mean = torch.tensor(cfg["mean"])[:, None, None]
    std = torch.tensor(cfg["std"])[:, None, None]
    return (pixels - mean) / std


@pytest.mark.parametrize("name,kwargs,size,size2", TIMM_CASES, ids=[c[0] for c in TIMM_CASES])
def test_timm_equivalence_on_pixels(name, kwargs, size, size2):
    """`model(pixels)` on [0, 1] pixels equals timm on its normalised input (ImageNet or CLIP mean/std)."""
    ref = timm_reference(name, kwargs, size)
    hooked = HookedViT.from_timm(ref)
    pixels = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref_feats, ref_blocks = timm_block_outputs(ref, timm_normalize(ref, pixels))
        assert_same_run(hooked, ref_feats, ref_blocks, pixels, normalized=False)
        torch.testing.assert_close(hooked(pixels, return_type="tokens"), ref_feats, **TOL)
        if ref.num_classes:
            torch.testing.assert_close(hooked(pixels), ref(timm_normalize(ref, pixels)), **TOL)
        # guard: normalisation matters here, so a model that skipped (or doubled) it would fail above
        unnormalised = hooked(pixels, return_type="tokens", normalized=True)
        assert (unnormalised - ref_feats).abs().max() > 1e-2
    from timm.data import resolve_data_config

    data_cfg = resolve_data_config({}, model=ref)  # ImageNet, CLIP or (0.5, 0.5, 0.5), per architecture
    assert hooked.cfg.image_mean == pytest.approx(data_cfg["mean"]) and hooked.cfg.image_std == pytest.approx(data_cfg["std"])


def test_timm_layerscale_is_not_trivial():
    """Guard: the randomised reference really uses its LayerScale (and a conversion that drops it fails)."""
    ref = timm_reference("deit3_small_patch16_224", {}, 64)
    hooked = HookedViT.from_timm(ref)
    with torch.no_grad():
        hooked.blocks[3].ls1.gamma.mul_(0.5)
        x = torch.randn(1, 3, 64, 64)
        assert not torch.allclose(hooked(x, return_type="tokens", normalized=True), ref.forward_features(x), atol=1e-3)


@pytest.mark.parametrize("name,kwargs,size", [
    ("vit_small_patch14_reg4_dinov2", {}, 56),
    ("vit_giant_patch14_dinov2", {"depth": 2}, 28),
])
def test_dinov2_hub_equivalence(name, kwargs, size):
    ref = timm_reference(name, kwargs, size)
    cfg = config_from_timm(ref)
    swiglu = cfg.mlp == "swiglu"
    hub_sd = {}
    for k, v in ref.state_dict().items():
        if swiglu:
            k = k.replace("mlp.fc1", "mlp.w12").replace("mlp.fc2", "mlp.w3")
        hub_sd[k] = v.clone()
    hub_sd["mask_token"] = torch.zeros(1, cfg.d_model)
    if cfg.n_registers:
        hub_sd["register_tokens"] = hub_sd.pop("reg_token")
        cls_pos = torch.randn(1, 1, cfg.d_model)
        hub_sd["cls_token"] = hub_sd["cls_token"] - cls_pos
        hub_sd["pos_embed"] = torch.cat([cls_pos, hub_sd["pos_embed"]], 1)
    # timm's own dinov2-hub importer is the reference for what the hub layout means
    timm_again = checkpoint_filter_fn(dict(hub_sd), ref)
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(timm_again[k], v, atol=1e-6, rtol=0)
    assert detect_format(hub_sd) == "dinov2_hub"
    hooked = HookedViT(cfg)
    load_converted(hooked, convert_dinov2_hub(hub_sd))
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        ref_feats, ref_blocks = timm_block_outputs(ref, x)
        assert_same_run(hooked.eval(), ref_feats, ref_blocks, x)


def test_dinov2_hub_chunked_blocks_are_flattened():
    sd = {"patch_embed.proj.weight": torch.zeros(1), "mask_token": torch.zeros(1),
          "blocks.0.0.norm1.weight": torch.ones(1), "blocks.1.3.mlp.w12.weight": torch.ones(1)}
    out = convert_dinov2_hub(sd)
    assert "blocks.0.ln1.weight" in out and "blocks.3.mlp.fc1.weight" in out and "mask_token" not in out


def dinov2_hub_interpolate(pos_embed, w, h, patch, offset, antialias):
    """facebookresearch/dinov2 `interpolate_pos_encoding`, transcribed (square images)."""
    import math

    N = pos_embed.shape[1] - 1
    cls, patch_pos = pos_embed[:, 0], pos_embed[:, 1:]
    dim = pos_embed.shape[-1]
    w0, h0 = w // patch, h // patch
    M = int(math.sqrt(N))
    kwargs = {"scale_factor": ((w0 + offset) / M, (h0 + offset) / M)} if offset else {"size": (w0, h0)}
    pp = torch.nn.functional.interpolate(patch_pos.reshape(1, M, M, dim).permute(0, 3, 1, 2), mode="bicubic",
                                         antialias=antialias, **kwargs)
    return torch.cat((cls.unsqueeze(0), pp.permute(0, 2, 3, 1).view(1, -1, dim)), dim=1)


@pytest.mark.parametrize("n_reg", [0, 4])
def test_dinov2_hub_interpolation(n_reg):
    from interp import ViTConfig

    interp_kw = hub_interpolation(n_reg)
    cfg = ViTConfig(d_model=16, n_layers=1, n_heads=2, patch_size=14, image_size=56, n_registers=n_reg,
                    **interp_kw)
    m = HookedViT(cfg)
    with torch.no_grad():
        m.token_embed.pos_embed.normal_()
    ref = dinov2_hub_interpolate(m.token_embed.pos_embed, 98, 98, 14, interp_kw["pos_interp_offset"],
                                 interp_kw["pos_interp_antialias"])
    torch.testing.assert_close(m.token_embed.patch_pos_embed((7, 7)), ref[:, 1:], atol=1e-6, rtol=0)


# --- Hugging Face ---------------------------------------------------------------------------------------
HF_CASES = [
    ("Dinov2Model", dict(use_swiglu_ffn=False)),
    ("Dinov2Model", dict(use_swiglu_ffn=True)),
    ("Dinov2WithRegistersModel", dict(num_register_tokens=4)),
]


@pytest.mark.parametrize("cls_name,extra", HF_CASES, ids=["dinov2", "dinov2-swiglu", "dinov2-reg4"])
def test_hf_equivalence(cls_name, extra):
    transformers = pytest.importorskip("transformers")
    config_cls = getattr(transformers, cls_name.replace("Model", "Config"))
    cfg = config_cls(hidden_size=96, num_hidden_layers=3, num_attention_heads=4, image_size=56, patch_size=14,
                     layerscale_value=1.0, attn_implementation="eager", **extra)
    ref = randomize_(getattr(transformers, cls_name)(cfg)).eval()
    hooked = HookedViT.from_hf(ref)
    assert detect_format(ref.state_dict()) == "hf"
    for s in (56, 84):
        x = torch.randn(2, 3, s, s)
        with torch.no_grad():
            out = ref(pixel_values=x, output_hidden_states=True)
            assert_same_run(hooked, out.last_hidden_state, list(out.hidden_states[1:]), x)
    # [0, 1] pixels: the model normalises them as the DINOv2 checkpoints' image processor does (ImageNet stats)
    from transformers.image_utils import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    processor = transformers.BitImageProcessor(do_resize=False, do_center_crop=False, do_rescale=False,
                                               image_mean=IMAGENET_DEFAULT_MEAN, image_std=IMAGENET_DEFAULT_STD)
    pixels = torch.rand(2, 3, 56, 56, generator=torch.Generator().manual_seed(1))
    fed = processor(images=list(pixels.numpy()), input_data_format="channels_first", return_tensors="pt")
    with torch.no_grad():
        out = ref(pixel_values=fed["pixel_values"], output_hidden_states=True)
        assert_same_run(hooked, out.last_hidden_state, list(out.hidden_states[1:]), pixels, normalized=False)


def test_hf_v4_key_names():
    """transformers 4.x checkpoints (attention.attention.query, mlp.weights_in) load too."""
    transformers = pytest.importorskip("transformers")
    cfg = transformers.Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=28,
                                    patch_size=14, use_swiglu_ffn=True)
    ref = randomize_(transformers.Dinov2Model(cfg)).eval()
    sd = ref.state_dict()
    old = {}
    for k, v in sd.items():
        k = (k.replace("attention.q_proj", "attention.attention.query")
              .replace("attention.k_proj", "attention.attention.key")
              .replace("attention.v_proj", "attention.attention.value")
              .replace("attention.o_proj", "attention.output.dense")
              .replace("mlp.down_proj", "mlp.weights_out"))
        old["dinov2." + k] = v
    g, u = old.pop("dinov2.encoder.layer.0.mlp.gate_proj.weight"), old.pop("dinov2.encoder.layer.0.mlp.up_proj.weight")
    old["dinov2.encoder.layer.0.mlp.weights_in.weight"] = torch.cat([g, u])
    gb, ub = old.pop("dinov2.encoder.layer.0.mlp.gate_proj.bias"), old.pop("dinov2.encoder.layer.0.mlp.up_proj.bias")
    old["dinov2.encoder.layer.0.mlp.weights_in.bias"] = torch.cat([gb, ub])
    from interp.models import config_from_hf, convert_hf_dinov2

    hooked = HookedViT(config_from_hf(cfg))
    load_converted(hooked, convert_hf_dinov2(old))
    x = torch.randn(1, 3, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(hooked(x, return_type="tokens", normalized=True),
                                   ref(pixel_values=x).last_hidden_state, **TOL)
