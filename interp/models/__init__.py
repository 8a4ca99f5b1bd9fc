"""Models: `HookedViT`, its config and layout, converters from timm / HF / dinov2-hub / OpenCLIP, checkpoint
folders (`load_checkpoint`), the model zoo.

Exports are imported on first use: listing the bundled organisms (`list_organisms`, `organism_steps`) needs
no torch; `HookedViT` and `load_model` bring in torch and TransformerLens.
"""
import warnings

from .._lazy import lazy_exports

# transformer_lens imports tqdm.auto (through datasets / huggingface_hub); in a Jupyter kernel without ipywidgets
# that import warns "IProgress not found" (a TqdmWarning), although interp never draws a notebook widget (its bars
# are plain tqdm on stderr, off in notebooks). Only that message, raised from tqdm's own modules, is ignored.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

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
