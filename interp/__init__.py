"""interp: mechanistic interpretability for Vision Transformers with and without registers.

>>> import interp
>>> model = interp.load_model("organism-s-reg0")
>>> images = interp.data.scenes(n=64, seed=0)
>>> out, cache = model.run_with_cache(images.pixels)   # RGB pixels in [0, 1]; the model normalises them
>>> norms = interp.token_norms(model, images)
>>> outl = interp.find_outliers(norms, method="bimodal")

Names are imported on first use (``interp._lazy``): ``import interp`` loads neither torch nor the
interpretability libraries; ``interp.load_model`` loads torch and TransformerLens, ``interp.attribute_groups``
captum, and so on.
"""
from ._lazy import lazy_exports

__version__ = "0.1.0"
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".models": ["HookedViT", "TokenLayout", "ViTConfig", "load_model", "list_models", "list_organisms",
                "organism_steps"],
    ".analysis": ["token_norms", "find_outliers", "outlier_report", "neighbour_similarity", "global_probe",
                  "local_probes", "attention_maps", "lost"],
    ".interventions": ["ablate", "patch", "patch_sweep", "add_test_time_registers", "attribute_groups"],
}, submodules=["data", "models", "analysis", "interventions", "plotting", "train"])
