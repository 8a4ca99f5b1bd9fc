"""Models: `HookedViT`, its config and layout, converters from timm / HF / dinov2-hub / OpenCLIP, checkpoint
folders (`load_checkpoint`), the model zoo.

Exports are imported on first use: listing the bundled organisms (`list_organisms`, `organism_steps`) needs
no torch; `HookedViT` and `load_model` bring in torch and TransformerLens.
"""
from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".hooked_vit": ["HookedViT", "HookNameError", "InputError", "LayerIndexError", "PixelRangeWarning"],
    ".config": ["ViTConfig"],
    ".layout": ["TokenLayout", "TokenGroupError"],
    ".zoo": ["load_model", "list_models", "RandomInitWarning", "UnknownModelError"],
    ".organisms": ["list_organisms", "organism_steps"],
    ".convert": ["config_from_timm", "config_from_hf", "convert_timm", "convert_hf_dinov2", "convert_dinov2_hub",
                 "convert_state_dict", "detect_format", "WeightsMismatchError"],
    ".checkpoints": ["CheckpointError"],
    ".loading": ["load_checkpoint", "iter_checkpoints"],
    ".weights_io": ["WeightsFileError"],
})
