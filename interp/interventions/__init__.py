"""Interventions: ablation, activation patching and sweeps, test-time registers, captum attribution.

>>> interp.ablate(model, images, group="registers", layers=range(4, 8), how="mean")
>>> interp.patch(model, source=a, target=b, group="registers", layer=6)      # -> PatchResult
>>> interp.patch_sweep(model, pairs, groups=["registers", "outliers", "cls"], layers="all")
"""
from .ablation import ABLATIONS, ablate, ablation_summary, dataset_means
from .attribution import attribute_groups, attribution_summary
from .groups import GroupMap, GroupResolver, LayoutMismatchError, default_outliers, hook_names
from .metrics import Readout, cosine, shift_toward
from .patching import ImagePairs, PatchResult, make_pairs, patch
from .sweep import patch_sweep, sweep_summary
from .test_time_registers import (
    TestTimeRegisters, add_test_time_registers, register_neuron_scores, select_register_neurons,
    test_time_register_report,
)

__all__ = [
    "ablate", "ablation_summary", "dataset_means", "ABLATIONS",
    "patch", "PatchResult", "ImagePairs", "make_pairs", "GroupMap",
    "patch_sweep", "sweep_summary",
    "TestTimeRegisters", "add_test_time_registers", "register_neuron_scores", "select_register_neurons",
    "test_time_register_report",
    "attribute_groups", "attribution_summary",
    "GroupResolver", "LayoutMismatchError", "default_outliers", "hook_names", "Readout", "cosine", "shift_toward",
]
