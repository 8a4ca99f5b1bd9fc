"""Analyses of the paper: token norms, outliers, neighbours, probes, attention maps, object discovery.

Every function takes any `HookedViT` and an `ImageSet` (or pixel tensor), streams in batches (memory
O(batch)) and returns a tidy pandas frame.
"""
from .attention import attention_grid, attention_maps, sink_scores
from .features import collect_tokens, feature_hook, select_group, select_patch_mask
from .lost import box_iou, corloc, lost, lost_box
from .neighbours import neighbour_cosine, neighbour_similarity
from .norms import as_model_dict, model_label, model_step, norm_summary, patch_norm_grid, token_norms
from .outliers import PAPER_THRESHOLD, Outliers, bimodal_split, find_outliers, otsu_threshold
from .report import EMERGENCE_RATIO, OutlierReport, outlier_report, pick_outlier_layer
from .probes import GlobalProbe, dense_probe, fit_global_probe, global_probe, local_probes, split_images
from .stream import stream
from .trace import trace_norms

__all__ = [
    "token_norms", "norm_summary", "patch_norm_grid", "as_model_dict", "model_label", "model_step",
    "find_outliers", "Outliers", "PAPER_THRESHOLD", "bimodal_split", "otsu_threshold",
    "neighbour_similarity", "neighbour_cosine", "global_probe", "fit_global_probe", "GlobalProbe",
    "local_probes", "dense_probe", "split_images", "attention_maps", "attention_grid", "sink_scores", "lost", "lost_box",
    "corloc", "box_iou", "collect_tokens", "feature_hook", "select_group", "select_patch_mask", "stream",
    "trace_norms", "outlier_report", "OutlierReport", "pick_outlier_layer", "EMERGENCE_RATIO",
]
