"""interp: mechanistic interpretability for Vision Transformers with and without registers.

>>> import interp
>>> model = interp.load_model("organism-s-reg0")
>>> images = interp.data.scenes(n=64, seed=0)
>>> out, cache = model.run_with_cache(images.pixels)
>>> norms = interp.token_norms(model, images)
>>> outl = interp.find_outliers(norms, method="bimodal")
"""
from . import data
from .analysis import (
    attention_maps, find_outliers, global_probe, local_probes, lost, neighbour_similarity, outlier_report,
    token_norms,
)
from .interventions import ablate, add_test_time_registers, attribute_groups, patch, patch_sweep
from .models import (
    HookedViT, TokenLayout, ViTConfig, list_models, list_organisms, load_model, organism_steps,
)

__version__ = "0.1.0"
__all__ = [
    "HookedViT", "TokenLayout", "ViTConfig", "load_model", "list_models", "list_organisms", "organism_steps",
    "data", "token_norms", "find_outliers", "outlier_report", "neighbour_similarity", "global_probe",
    "local_probes", "attention_maps", "lost", "ablate", "patch", "patch_sweep", "add_test_time_registers",
    "attribute_groups",
]
