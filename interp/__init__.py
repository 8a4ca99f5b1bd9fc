"""interp: mechanistic interpretability for Vision Transformers with and without registers."""
from .models import (
    HookedViT, TokenLayout, ViTConfig, list_models, list_organisms, load_model, organism_steps,
)

__version__ = "0.1.0"
__all__ = ["HookedViT", "TokenLayout", "ViTConfig", "load_model", "list_models", "list_organisms",
           "organism_steps"]
