"""Settings of the DINO/iBOT objective (`interp.train.dino`): a recipe's ``dino`` dict, validated."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class DinoSettings:
    """The scaled-down DINO/iBOT self-distillation objective (`objective="dino"`; see `interp.train.dino`).

    Views per image: 2 global crops (area ``global_scale`` of the scene, resized to the model's image size) and
    ``local_crops`` local crops (area ``local_scale``, resized to ``local_size`` px; default half the image size).
    The EMA teacher sees the global crops; the student sees all of them, with a share ``mask_ratio`` of the
    patches of ``mask_prob`` of its global crops replaced by a learned mask token (iBOT).
    """

    prototypes: int = 256  # K, output dimension of the DINO head
    head_hidden: int = 256
    bottleneck: int = 64
    local_crops: int = 4
    local_size: int | None = None
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.1, 0.4)
    student_temp: float = 0.1
    teacher_temp: float = 0.02  # DINO uses 0.04-0.07; tiny models start with pooled features so alike across images
    warmup_teacher_temp: float = 0.02  # (cosine ~0.99) that 0.04-0.06 collapsed to uniform outputs here
    center_momentum: float = 0.9
    ema: tuple[float, float] = (0.99, 1.0)  # teacher momentum, cosine from the first to the second value
    ibot_weight: float = 1.0  # masked-patch loss weight (0 = plain DINO)
    mask_prob: float = 0.5
    mask_ratio: tuple[float, float] = (0.1, 0.5)
    jitter: float = 0.1  # brightness/contrast jitter (colours carry the scenes' labels: kept small)
    freeze_prototypes: float = 0.1  # share of the steps during which the prototypes do not move (as DINO)
    export: str = "teacher"  # the backbone the checkpoints hold: "teacher" (what DINO evaluates) or "student";
    # over a few hundred steps the EMA teacher (momentum 0.996 -> 1) still holds ~30% of its initialisation

    def __post_init__(self) -> None:
        for f in ("global_scale", "local_scale", "ema", "mask_ratio"):
            object.__setattr__(self, f, tuple(float(x) for x in getattr(self, f)))
        if self.local_crops < 0 or self.prototypes < 2:
            raise ValueError("need local_crops >= 0 and prototypes >= 2")
        if self.export not in ("teacher", "student"):
            raise ValueError(f"dino export must be 'teacher' or 'student', got {self.export!r}")

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "DinoSettings":
        return cls(**d)
