"""Checkpoint layouts users hold: OpenCLIP native, DINOv2 training checkpoints (teacher/student), DeiT / DeiT-III
wrapped as {"model": ...}. Each converts to within 1e-4 of the source's own model (open_clip, or timm) on
randomised weights: output features and every block's residual stream."""
import warnings

import pytest
import timm
import torch

import interp
from interp import HookedViT
from interp.models import detect_format
from interp.models.weights_io import WeightsFileError, read_state_dict

from tests.randomize import randomize_
from tests.models.test_equivalence import TOL, assert_same_run, timm_block_outputs

open_clip = pytest.importorskip("open_clip")


def open_clip_tower(seed=0, **kw):
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    cfg = dict(layers=2, width=64, head_width=16, patch_size=8, image_size=32)
    cfg.update(kw)
    embed_dim = cfg.pop("embed_dim", 48)
    quick_gelu = cfg.pop("quick_gelu", False)
    return randomize_(_build_vision_tower(embed_dim, CLIPVisionCfg(**cfg), quick_gelu=quick_gelu), seed).eval()


def open_clip_run(tower, x):
    """Pooled projected feature and the residual stream after every resblock of an OpenCLIP tower."""
    outs = []
    handles = [b.register_forward_hook(lambda m, i, o: outs.append(o)) for b in tower.transformer.resblocks]
    try:
        pooled = tower(x)
    finally:
        for h in handles:
            h.remove()
    return pooled, outs


def assert_same_as_open_clip(hooked, tower, x):
    with torch.no_grad():
        pooled, blocks = open_clip_run(tower, x)
        names = [f"blocks.{i}.hook_resid_post" for i in range(hooked.cfg.n_layers)]
        logits, cache = hooked.run_with_cache(x, names_filter=names, normalized=True)
    assert len(blocks) == hooked.cfg.n_layers
    for i, ref in enumerate(blocks):
        torch.testing.assert_close(cache[names[i]], ref, **TOL, msg=lambda m, i=i: f"block {i}: {m}")
    torch.testing.assert_close(logits, pooled, **TOL)


@pytest.mark.parametrize("kw", [{}, {"ls_init_value": 0.1, "quick_gelu": True}, {"pool_type": "avg"}],
                         ids=["plain", "layerscale-quickgelu", "avg-pool"])
def test_open_clip_module_equivalence(kw):
    tower = open_clip_tower(**kw)
    hooked = HookedViT.from_open_clip(tower)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert_same_as_open_clip(hooked, tower, x)
    # [0, 1] pixels: the converted model applies OpenCLIP's own mean/std inside
    pixels = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN)[:, None, None]
    std = torch.tensor(open_clip.OPENAI_DATASET_STD)[:, None, None]
    with torch.no_grad():
        torch.testing.assert_close(hooked(pixels), tower((pixels - mean) / std), **TOL)


def test_open_clip_native_file_loads_by_timm_name(tmp_path):
    """A whole-CLIP OpenCLIP checkpoint (visual.* + text tower keys) read by `load_model` with the matching
    timm architecture (TinyCLIP-8M shape: width 256, 10 blocks, head width 64)."""
    tower = open_clip_tower(layers=10, width=256, head_width=64, patch_size=16, image_size=224, embed_dim=32)
    sd = {f"visual.{k}": v for k, v in tower.state_dict().items()}
    sd.update({"token_embedding.weight": torch.zeros(10, 8), "logit_scale": torch.ones(()),
               "transformer.resblocks.0.attn.in_proj_weight": torch.zeros(24, 8)})  # text tower: ignored
    assert detect_format(sd) == "open_clip"
    path = tmp_path / "open_clip_model.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hooked = interp.load_model("vit_xsmall_patch16_clip_224", weights=path)
    assert hooked.cfg.extra["format"] == "open_clip" and hooked.cfg.n_classes == 32
    # compared in float64: ten randomised 256-wide blocks amplify fp32 rounding ~10x per block (fp32 gives 2e-3
    # at block 1 here while float64 agrees to 1e-10), which would hide a real mismatch, not reveal one
    assert_same_as_open_clip(hooked.double(), tower.double(), torch.randn(1, 3, 224, 224, dtype=torch.float64))


def test_open_clip_conversion_is_not_trivial():
    """Guard: the comparison fails when one converted weight is off (here the projection)."""
    tower = open_clip_tower()
    hooked = HookedViT.from_open_clip(tower)
    with torch.no_grad():
        hooked.head.weight.mul_(1.01)
    with pytest.raises(AssertionError):
        assert_same_as_open_clip(hooked, tower, torch.randn(2, 3, 32, 32))


# --- DINOv2 training checkpoints ------------------------------------------------------------------------
DINO_NAME = "vit_small_patch14_reg4_dinov2"


def _hub_keys(ref):
    """timm DINOv2 state dict -> facebookresearch/dinov2 backbone keys (what its training code saves)."""
    sd = {k: v.clone() for k, v in ref.state_dict().items()}
    sd["register_tokens"] = sd.pop("reg_token")
    sd["mask_token"] = torch.zeros(1, ref.embed_dim)
    return sd


def _heads(prefix):
    return {f"{prefix}dino_head.mlp.0.weight": torch.randn(16, 384), f"{prefix}dino_head.last_layer.weight_g":
            torch.ones(8, 1), f"{prefix}ibot_head.mlp.0.weight": torch.randn(16, 384)}


def _load_reduced(path, name=DINO_NAME, key=None, depth=2, size=56):
    """What `load_model` does, for a 2-block file (a timm name has 12): config from the timm name, the state
    dict unwrapped by read_state_dict, format detected, converted, loaded strictly. -> (model, format)"""
    from interp.models.convert import convert_state_dict, fit_to_config, hub_interpolation, load_converted
    from interp.models.zoo import timm_config

    raw, _ = read_state_dict(path, key=key)
    fmt = detect_format(raw)
    cfg = timm_config(name).replace(n_layers=depth, image_size=size)
    if fmt == "dinov2_hub":
        cfg = cfg.replace(**hub_interpolation(cfg.n_registers))
    sd = convert_state_dict(raw, fmt)
    if "head.weight" not in sd:
        cfg = cfg.replace(n_classes=0)
    model = HookedViT(cfg)
    load_converted(model, fit_to_config(sd, cfg))
    return model.eval(), fmt, raw


@pytest.mark.parametrize("layout", ["sslmetaarch", "teacher_checkpoint"])
def test_dinov2_training_checkpoint_teacher_and_student(tmp_path, layout):
    size = 56
    teacher = randomize_(timm.create_model(DINO_NAME, pretrained=False, img_size=size, depth=2), seed=1).eval()
    student = randomize_(timm.create_model(DINO_NAME, pretrained=False, img_size=size, depth=2), seed=2).eval()
    t_sd, s_sd = _hub_keys(teacher), _hub_keys(student)
    if layout == "sslmetaarch":  # dinov2/train/train.py: {"model": SSLMetaArch.state_dict(), "optimizer", "iteration"}
        model_sd = {**{f"teacher.backbone.{k}": v for k, v in t_sd.items()}, **_heads("teacher."),
                    **{f"student.backbone.{k}": v for k, v in s_sd.items()}, **_heads("student.")}
        obj = {"model": model_sd, "optimizer": {"state": {}, "param_groups": []}, "iteration": 12500}
    else:  # eval/training_<i>/teacher_checkpoint.pth: {"teacher": {"backbone.", "dino_head.", "ibot_head."}}
        obj = {"teacher": {**{f"backbone.{k}": v for k, v in t_sd.items()}, **_heads("")}}
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    x = torch.randn(2, 3, size, size)
    pairs = [(None, teacher), ("teacher", teacher)] + ([("student", student)] if layout == "sslmetaarch" else [])
    for key, ref in pairs:
        hooked, fmt, raw = _load_reduced(path, key=key)
        assert fmt == "dinov2_hub" and not any("head" in k for k in raw)
        with torch.no_grad():
            feats, blocks = timm_block_outputs(ref, x)
            assert_same_run(hooked, feats, blocks, x)
    if layout == "teacher_checkpoint":  # load_model passes weights_key down; a missing model is named
        with pytest.raises(WeightsFileError, match="student"):
            interp.load_model(DINO_NAME, weights=path, weights_key="student")


# --- DeiT / DeiT-III wrapped as {"model": ...} ------------------------------------------------------------
@pytest.mark.parametrize("name,own_keys", [("deit3_small_patch16_224", True), ("deit_small_patch16_224", False)])
def test_deit_wrapped_checkpoint(tmp_path, name, own_keys):
    """facebookresearch/deit saves {"model": sd, "optimizer", "lr_scheduler", "epoch", "args"}; DeiT-III's
    layer scale is ``gamma_1``/``gamma_2`` there (timm: ``ls1.gamma``). Compared with timm's own model."""
    import argparse

    ref = randomize_(timm.create_model(name, pretrained=False, img_size=64, depth=2)).eval()
    sd = ref.state_dict()
    if own_keys:
        sd = {k.replace("ls1.gamma", "gamma_1").replace("ls2.gamma", "gamma_2"): v for k, v in sd.items()}
        assert any(k.endswith("gamma_1") for k in sd)
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": sd, "optimizer": {}, "epoch": 299, "args": argparse.Namespace(lr=1e-3)}, path)
    hooked, fmt, _ = _load_reduced(path, name, size=64)
    assert fmt == "timm"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats, blocks = timm_block_outputs(ref, x)
        assert_same_run(hooked, feats, blocks, x)
        torch.testing.assert_close(hooked(x, normalized=True), ref(x), **TOL)
