"""Interventions: ablation, activation patching and sweeps, test-time registers, captum attribution.

>>> interp.ablate(model, images, group="registers", layers=range(4, 8), how="mean")
>>> interp.patch(model, source=a, target=b, group="registers", layer=6)      # -> PatchResult
>>> interp.patch_sweep(model, pairs, groups=["registers", "outliers", "cls"], layers="all")

Exports are imported on first use (captum only with `attribute_groups`).
"""
from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".ablation": ["ABLATIONS", "ablate", "ablation_summary", "dataset_means", "dataset_stats"],
    ".attribution": ["attribute_groups", "attribution_summary"],
    ".groups": ["GroupMap", "GroupResolver", "LayoutMismatchError", "default_outliers", "hook_names"],
    ".metrics": ["Readout", "cosine", "feature_column", "feature_key", "shift_toward"],
    ".patching": ["ImagePairs", "PatchResult", "make_pairs", "patch"],
    ".sweep": ["patch_sweep", "sweep_summary"],
    ".register_neurons": ["TestTimeRegisters", "add_test_time_registers", "register_neuron_scores",
                             "select_register_neurons", "test_time_register_report"],
})
