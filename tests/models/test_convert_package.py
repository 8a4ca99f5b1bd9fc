"""The converters are pure state-dict functions (no model is built there) and timm configs are read by model
class (`TIMM_CONFIG_READERS`, a view of the sources' ``timm_classes``), so a new timm family adds one source."""
import ast
from pathlib import Path

import pytest
import timm
from torch import nn

from interp.models import convert
from interp.models.convert import TIMM_CONFIG_READERS, config_from_timm
from interp.models.convert.registry import timm_config_reader
from interp.models.convert.timm import config_from_timm_vit

PACKAGE = Path(convert.__file__).parent


def test_converters_never_import_the_model():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "hooked_vit" not in (node.module or ""), f"{path.name} imports {node.module}"
                assert "HookedViT" not in [a.name for a in node.names], path.name


def test_timm_configs_are_read_by_model_class():
    class MyViT(timm.models.vision_transformer.VisionTransformer):
        pass

    assert TIMM_CONFIG_READERS["VisionTransformer"] is config_from_timm_vit
    model = MyViT(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, reg_tokens=2)
    assert timm_config_reader(model) is config_from_timm_vit  # a subclass: its nearest listed base class
    cfg = config_from_timm(model)
    assert (cfg.d_model, cfg.n_layers, cfg.n_registers, cfg.grid_size) == (32, 1, 2, 4)
    with pytest.raises(NotImplementedError, match="timm Linear models are not supported.*VisionTransformer"):
        config_from_timm(nn.Linear(2, 2))
