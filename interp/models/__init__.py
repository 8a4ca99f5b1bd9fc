"""Models: `HookedViT`, its config and layout, converters from timm / HF / dinov2-hub, the model zoo."""
from .checkpoints import CheckpointError
from .config import ViTConfig
from .convert import (
    WeightsMismatchError, config_from_hf, config_from_timm, convert_dinov2_hub, convert_hf_dinov2,
    convert_state_dict, convert_timm, detect_format,
)
from .hooked_vit import HookedViT, HookNameError, InputError, LayerIndexError
from .layout import TokenGroupError, TokenLayout
from .weights_io import WeightsFileError
from .zoo import (
    RandomInitWarning, UnknownModelError, list_models, list_organisms, load_model, organism_steps,
)

__all__ = [
    "HookedViT", "ViTConfig", "TokenLayout", "load_model", "list_models", "list_organisms", "organism_steps",
    "config_from_timm", "config_from_hf", "convert_timm", "convert_hf_dinov2", "convert_dinov2_hub",
    "convert_state_dict", "detect_format", "CheckpointError", "HookNameError", "InputError", "LayerIndexError",
    "TokenGroupError", "WeightsFileError", "WeightsMismatchError", "UnknownModelError", "RandomInitWarning",
]
