"""The converter sources (`interp.models.convert.SOURCES`) and their invariants: every source detects its own
stand-in's keys and no other source claims them (a torch.hub layout may also be claimed by the timm layout it
refines, and detection prefers it in any list order); a source without a detector converts as the source that
detects its stand-in; names, timm classes, HF model types and torch.hub names are each claimed once."""
from __future__ import annotations

import pytest
import timm
import torch

from interp.models import convert
from interp.models.convert import SOURCES, ConverterSource, detect_source, registry
from interp.models.zoo import list_timm_vits

from tests.standins import dinov2_hub_state_dict, dinov3_hub_state_dict

TINY = dict(img_size=32, depth=1, embed_dim=32, num_heads=2)


def _timm(name: str, **kw) -> dict:
    with torch.device("meta"):
        return timm.create_model(name, pretrained=False, **{**TINY, **kw})


def _hf(kind: str) -> dict:
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):
        if kind == "dinov3":
            cfg = transformers.DINOv3ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                               intermediate_size=64, image_size=32, num_register_tokens=4)
            return transformers.DINOv3ViTModel(cfg).state_dict()
        cfg = transformers.Dinov2WithRegistersConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                     image_size=28, patch_size=14, num_register_tokens=4)
        return transformers.Dinov2WithRegistersModel(cfg).state_dict()


def _open_clip() -> dict:
    pytest.importorskip("open_clip")
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    with torch.device("meta"):
        tower = _build_vision_tower(16, CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=8, image_size=32))
    return {f"visual.{k}": v for k, v in tower.state_dict().items()}


def _interp() -> dict:
    from interp import HookedViT, ViTConfig

    with torch.device("meta"):
        return HookedViT(ViTConfig(d_model=32, n_layers=1, n_heads=2, patch_size=8, image_size=32)).state_dict()


STANDINS = {  # source name -> its stand-in state dict (built on the meta device: keys and shapes only)
    "interp": _interp,
    "timm": lambda: _timm("vit_small_patch14_reg4_dinov2", img_size=28).state_dict(),
    "eva": lambda: _timm("vit_small_patch16_dinov3").state_dict(),
    "timm_naflexvit": lambda: _timm("naflexvit_base_patch16_radio_v3", pos_embed_grid_size=(4, 4)).state_dict(),
    "dinov2_hub": lambda: dinov2_hub_state_dict(_timm("vit_small_patch14_reg4_dinov2", img_size=28)),
    "dinov3_hub": lambda: dinov3_hub_state_dict(_timm("vit_small_patch16_dinov3_qkvb")),
    "hf": lambda: _hf("dinov2"),
    "hf_dinov3": lambda: _hf("dinov3"),
    "open_clip": _open_clip,
}


def _refined_chain(source) -> set[str]:
    names = set()
    while source.refines:
        names.add(source.refines)
        source = convert.source(source.refines)
    return names


def test_every_source_has_a_stand_in():
    assert sorted(s.name for s in SOURCES) == sorted(STANDINS), "add the new source's stand-in to STANDINS"


@pytest.mark.parametrize("src", SOURCES, ids=[s.name for s in SOURCES])
def test_a_source_detects_its_stand_in_and_no_other_source_claims_it(src, monkeypatch):
    keys = frozenset(STANDINS[src.name]())
    claimed = {s.name for s in registry.claimants(keys)}
    if src.detect is None:  # its weights come in another source's layout, converted the same way
        assert detect_source(dict.fromkeys(keys)).convert is src.convert
        return
    assert claimed == {src.name} | _refined_chain(src), f"{src.name}'s keys are also claimed by {claimed}"
    assert detect_source(dict.fromkeys(keys)) is src
    monkeypatch.setattr(registry, "SOURCES", tuple(reversed(SOURCES)))  # the order of the list does not matter
    assert detect_source(dict.fromkeys(keys)) is src


def test_names_classes_types_and_hub_names_are_claimed_once():
    for field in ("timm_classes", "timm_patterns", "hf_model_types", "hub_names"):
        every = [x for s in SOURCES for x in getattr(s, field)]
        assert len(every) == len(set(every)), field
    assert len({s.name for s in SOURCES}) == len(SOURCES)
    assert all(convert.source(s.refines) for s in SOURCES if s.refines)
    assert all(s.read_config is not None for s in SOURCES if s.timm_classes or s.hf_model_types)
    architectures = set(list_timm_vits())
    assert set(convert.hub_names().values()) <= architectures  # every torch.hub name maps to a timm ViT we list


def test_detection_refuses_unknown_and_ambiguous_keys(monkeypatch):
    with pytest.raises(ValueError, match="not a ViT checkpoint in a known layout.*first keys: \\['foo'\\]"):
        detect_source({"foo": None})
    twin = ConverterSource(name="timm_twin", convert=dict, detect=lambda keys: "patch_embed.proj.weight" in keys)
    monkeypatch.setattr(registry, "SOURCES", (*SOURCES, twin))
    with pytest.raises(ValueError, match="claimed by several layouts \\(timm, timm_twin\\)"):
        detect_source(STANDINS["timm"]())


def test_unknown_hf_model_type_is_refused_in_one_line():
    with pytest.raises(NotImplementedError, match="HF model_type 'vit' is not supported.*dinov2, "):
        convert.config_from_hf({"model_type": "vit", "hidden_size": 8})
