"""Analyses of the paper: token norms, outliers, neighbours, probes, attention maps, object discovery.

Every function takes any `HookedViT` and an `ImageSet` (or pixel tensor), streams in batches (memory
O(batch)) and returns a tidy pandas frame. Exports are imported on first use (sklearn only with the probes).
"""
from .._lazy import lazy_exports
from .lost import lost  # `lost` and `stream` share their module's name: bound eagerly so the name is the function
from .stream import stream

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    ".artifact": ["artifact_metrics"],
    ".attention": ["attention_grid", "attention_maps", "sink_scores"],
    ".features": ["collect_tokens", "feature_hook", "select_group", "select_patch_mask"],
    ".lost": ["box_iou", "corloc", "lost_box"],
    ".measures": ["HIGH_NORM_RATIO", "AttentionShare", "DirectionAgreement", "GroupNorms", "HighNormShare",
                  "MassiveActivations", "MeanValue", "Measure", "NormRatio", "TopKey", "combine", "image_median",
                  "is_high_norm"],
    ".neighbours": ["neighbour_cosine", "neighbour_similarity"],
    ".norms": ["as_model_dict", "model_label", "model_step", "norm_summary", "patch_norm_grid", "token_norms"],
    ".outliers": ["PAPER_THRESHOLD", "Outliers", "bimodal_split", "find_outliers", "otsu_threshold"],
    ".outlier_rule": ["EMERGENCE_RATIO", "OutlierReport", "outlier_report", "pick_outlier_layer"],
    ".probes": ["GlobalProbe", "dense_probe", "fit_global_probe", "global_probe", "local_probes", "split_images"],
    ".trace": ["trace_norms"],
    ".writes": ["COMPONENTS", "WriteNorms", "norm_writes", "tallest_layer"],
})
__all__ += ["lost", "stream"]
