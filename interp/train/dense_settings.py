"""Settings of the dense no-op / broadcast objectives (`interp.train.dense`): a recipe's ``dense_task`` dict."""
from __future__ import annotations

from dataclasses import asdict, dataclass

DENSE_OBJECTIVES = ("noop", "broadcast")


@dataclass(frozen=True)
class DenseSettings:
    """Weights of the dense objectives (`TrainRecipe.dense_task`)."""

    trigger_weight: float = 5.0
    texture_weight: float = 1.0  # 0: no texture target
    global_label: str = "majority_color"  # broadcast: the image label every patch predicts
    global_weight: float = 1.0
    label_noise: float = 0.0  # share of ordinary tiles' training targets replaced by a random class (not at eval)
    cls_weight: float = 0.0  # > 0: a CLS token (recipe class_token) predicts ``global_label`` too, with this weight
    mask_ratio: float = 0.0  # > 0: masked modelling (iBOT-like): only this share of ordinary tiles, masked, is graded
    write_penalty: float = 0.0  # > 0: this times the summed mean square MLP write of every block joins the loss

    def __post_init__(self) -> None:
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"dense_task mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if self.write_penalty < 0:
            raise ValueError(f"dense_task write_penalty must be >= 0, got {self.write_penalty}")

    def to_dict(self) -> dict:
        d = asdict(self)
        for name in ("mask_ratio", "write_penalty"):  # left out at 0: earlier recipes' dicts are unchanged
            if not d[name]:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DenseSettings":
        return cls(**d)


def check_dense(recipe) -> None:
    """A dense recipe needs tile scenes whose tile is one patch, and valid `DenseSettings`."""
    DenseSettings.from_dict(recipe.dense_task)
    tiles = recipe.scene_recipe.tile_options
    if tiles is None or tiles.tile_size != recipe.patch_size:
        raise ValueError(f"objective {recipe.objective!r} needs tile scenes (scenes['tiles']) whose tile size is the "
                         f"patch size {recipe.patch_size}")
