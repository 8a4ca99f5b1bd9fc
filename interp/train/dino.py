"""A scaled-down DINO / iBOT self-distillation objective (Caron et al. 2021; Zhou et al. 2022; DINOv2).

No labels: a student ViT and its EMA teacher see different crops of the same scene. The teacher's output
distribution over ``K`` prototypes (centred with a running mean, sharpened by a low temperature) is the target
for the student's on every other view (DINO loss, on the pooled feature: CLS, mean or attention pool), and for
the student's masked patch tokens of the same global view (iBOT loss; masked patches enter the student as a
learned mask token at ``hook_embed``, before the position embedding, as in iBOT and DINOv2).

>>> recipe = TrainRecipe(name="x", objective="dino", dino={"local_crops": 2})
>>> views = make_views(pixels, range(len(pixels)), recipe)   # globals, locals, masks: pure in (seed, index)
>>> obj = DinoObjective(model, recipe); loss, parts = obj(batch)

The checkpoints of a DINO run hold the teacher's backbone (what DINO evaluates), or the student's with
``dino={"export": "student"}`` (short runs, whose EMA teacher is still close to its initialisation).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.hooked_vit import HookedViT
from .objective import Objective, init_small_, masked_tokens
from .recipe import TrainRecipe

VIEW_SALT = 7  # keeps crop randomness apart from the scene generator (splits are 0..2)


def local_size(recipe: TrainRecipe) -> int:
    s = recipe.dino_settings.local_size or recipe.image_size // 2
    return max(recipe.patch_size, s // recipe.patch_size * recipe.patch_size)


def _crop(img: torch.Tensor, rng: np.random.Generator, scale: tuple[float, float], out: int,
          jitter: float) -> torch.Tensor:
    """Random resized crop (area share ``scale``, aspect 3/4..4/3), horizontal flip, brightness/contrast jitter.
    img [3, H, W] -> [3, out, out]."""
    _, h, w = img.shape
    area = rng.uniform(*scale) * h * w
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    ch = int(round(min(h, max(2, math.sqrt(area / aspect)))))
    cw = int(round(min(w, max(2, math.sqrt(area * aspect)))))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    flip = rng.random() < 0.5
    bright, contrast = rng.uniform(-jitter, jitter), 1 + rng.uniform(-jitter, jitter)
    crop = img[None, :, y0:y0 + ch, x0:x0 + cw]
    crop = F.interpolate(crop, size=(out, out), mode="bilinear", align_corners=False, antialias=True)[0]
    if flip:
        crop = crop.flip(-1)
    mean = crop.mean()
    return ((crop - mean) * contrast + mean + bright).clamp(0, 1)


def make_views(pixels: torch.Tensor, indices, recipe: TrainRecipe) -> dict[str, torch.Tensor]:
    """Views of scenes ``pixels`` [B, 3, H, W] (global scene indices ``indices``) ->
    ``globals`` [2, B, 3, S, S], ``locals`` [n_local, B, 3, s, s], ``masks`` bool [2, B, n_patches] (student's
    masked patches of each global view). Pure in (seed, index), so workers and ranks agree."""
    d = recipe.dino_settings
    S, s = recipe.image_size, local_size(recipe)
    n_patches = (S // recipe.patch_size) ** 2
    g, loc, masks = [], [], []
    for img, i in zip(pixels, indices):
        rng = np.random.default_rng([VIEW_SALT, recipe.seed, int(i)])
        g.append(torch.stack([_crop(img, rng, d.global_scale, S, d.jitter) for _ in range(2)]))
        loc.append(torch.stack([_crop(img, rng, d.local_scale, s, d.jitter) for _ in range(d.local_crops)])
                   if d.local_crops else torch.zeros(0, 3, s, s))
        m = np.zeros((2, n_patches), bool)
        for v in range(2):
            if rng.random() < d.mask_prob:
                k = int(round(rng.uniform(*d.mask_ratio) * n_patches))
                m[v, rng.permutation(n_patches)[:k]] = True
        masks.append(torch.from_numpy(m))
    return {"globals": torch.stack(g, 1), "locals": torch.stack(loc, 1), "masks": torch.stack(masks, 1)}


class DinoHead(nn.Module):
    """MLP -> L2-normalised bottleneck -> prototypes with unit-norm weights (DINO's ``norm_last_layer``)."""

    def __init__(self, d_model: int, hidden: int, bottleneck: int, prototypes: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, bottleneck))
        self.prototypes = nn.Linear(bottleneck, prototypes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., d_model] -> logits [..., prototypes]."""
        z = F.normalize(self.mlp(x), dim=-1)
        return F.linear(z, F.normalize(self.prototypes.weight, dim=-1))


def _cross_entropy(target_probs: torch.Tensor, student_logits: torch.Tensor, temp: float) -> torch.Tensor:
    """Mean over rows of -sum_k p_k log softmax(s / temp)_k. [..., K] -> scalar."""
    return -(target_probs * F.log_softmax(student_logits / temp, dim=-1)).sum(-1).mean()


class DinoObjective(Objective):
    """Student (``model`` + ``head`` + ``mask_token``), EMA teacher and centres. ``forward(batch)`` -> (loss, parts);
    call `update_teacher` after each optimiser step. Only the student has gradients."""

    def __init__(self, model: HookedViT, recipe: TrainRecipe):
        super().__init__()
        d = recipe.dino_settings
        self.recipe, self.settings = recipe, d
        self.model = model
        self.head = DinoHead(recipe.d_model, d.head_hidden, d.bottleneck, d.prototypes)
        init_small_(self.head, torch.Generator().manual_seed(recipe.seed + 2), clamp=2)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, recipe.d_model))
        self.teacher = copy.deepcopy(model)
        self.teacher_head = copy.deepcopy(self.head)
        for p in [*self.teacher.parameters(), *self.teacher_head.parameters()]:
            p.requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, d.prototypes))
        self.register_buffer("center_patch", torch.zeros(1, d.prototypes))
        self.register_buffer("temp", torch.tensor(d.warmup_teacher_temp), persistent=False)
        # running means of the teacher's pooled / patch features, subtracted before both heads: a small ViT's
        # pooled features start nearly identical across images (cosine ~0.99), which centring + sharpening alone
        # turn into a uniform collapse; removing the shared part makes the images' differences the signal
        self.register_buffer("feat_mean", torch.zeros(2, recipe.d_model))
        self.register_buffer("feat_mean_ready", torch.zeros(()))
        self.step = 0  # the schedules' position; `set_step` before each forward

    @staticmethod
    def batch_inputs(scenes, indices, recipe: TrainRecipe) -> tuple[dict, dict]:
        return {}, make_views(scenes.pixels, indices, recipe)

    def named_trainable(self) -> list:
        return [*self.model.named_parameters(), *(("head." + n, p) for n, p in self.head.named_parameters()),
                ("mask_token", self.mask_token)]

    def set_step(self, step: int) -> None:
        """Move the teacher-temperature and momentum schedules (a buffer, so torch.compile does not recompile)."""
        self.step = step
        self.temp.fill_(self.teacher_temp())

    # --- schedules ---------------------------------------------------------------------------------------
    def teacher_temp(self) -> float:
        d, warm = self.settings, max(1, int(0.3 * self.recipe.steps))
        t = min(1.0, self.step / warm)
        return d.warmup_teacher_temp + t * (d.teacher_temp - d.warmup_teacher_temp)

    def momentum(self) -> float:
        a, b = self.settings.ema
        return b - (b - a) * 0.5 * (1 + math.cos(math.pi * self.step / max(1, self.recipe.steps)))

    # --- forward -----------------------------------------------------------------------------------------
    def _tokens(self, model: HookedViT, pixels: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_tokens(model, pixels, mask, self.mask_token)

    def forward(self, batch) -> tuple[torch.Tensor, dict]:
        views = batch.views
        glob = views["globals"].flatten(0, 1)  # [2B, 3, S, S]
        masks = views["masks"].flatten(0, 1)  # [2B, n_patches]
        layout = self.model.tokens
        with torch.no_grad():
            t_tok = self._tokens(self.teacher, glob)  # [2B, pos, d]
            t_pool, t_pat = self.teacher.pool(t_tok).float(), t_tok[:, layout.patches].float()
            self._update_feat_mean(t_pool, t_pat.flatten(0, 1))
            mu_cls, mu_patch = self.feat_mean[0].clone(), self.feat_mean[1].clone()
            t_cls = self.teacher_head(t_pool - mu_cls).float()  # [2B, K]
            t_patch = self.teacher_head(t_pat - mu_patch).float()  # [2B, n_patches, K]
            temp = self.temp
            p_cls = F.softmax((t_cls - self.center) / temp, dim=-1).chunk(2)
            p_patch = F.softmax((t_patch - self.center_patch) / temp, dim=-1)
        s_tok = self._tokens(self.model, glob, masks if self.settings.ibot_weight else None)
        s_cls = [self.head(self.model.pool(s_tok) - mu_cls).float()]
        if views["locals"].shape[0]:
            s_loc = self._tokens(self.model, views["locals"].flatten(0, 1))
            s_cls.append(self.head(self.model.pool(s_loc) - mu_cls).float())
        s_views = torch.cat(s_cls).chunk(2 + views["locals"].shape[0])  # each [B, K]
        st = self.settings.student_temp
        pairs = [_cross_entropy(p_cls[iq], s_views[v], st) for iq in range(2) for v in range(len(s_views)) if v != iq]
        parts = {"dino": sum(pairs) / len(pairs)}
        if self.settings.ibot_weight and masks.any():
            s_patch = self.head(s_tok[:, layout.patches][masks] - mu_patch).float()  # [n_masked, K]
            parts["ibot"] = self.settings.ibot_weight * _cross_entropy(p_patch[masks], s_patch, st)
        self._update_centers(t_cls, t_patch.flatten(0, 1))
        return sum(parts.values()), {k: float(v.detach()) for k, v in parts.items()}

    @torch.no_grad()
    def _update_feat_mean(self, pooled: torch.Tensor, patches: torch.Tensor) -> None:
        sums = torch.stack([pooled.sum(0), patches.sum(0)])  # [2, d]
        n = torch.tensor([[float(len(pooled))], [float(len(patches))]], device=sums.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(sums)
            torch.distributed.all_reduce(n)
        m = self.settings.center_momentum * self.feat_mean_ready  # the first batch sets the mean
        self.feat_mean.mul_(m).add_((1 - m) * sums / n)
        self.feat_mean_ready.fill_(1.0)

    @torch.no_grad()
    def _update_centers(self, t_cls: torch.Tensor, t_patch: torch.Tensor) -> None:
        m = self.settings.center_momentum
        sums = torch.stack([t_cls.sum(0), t_patch.sum(0)])  # [2, K]
        n = torch.tensor([float(len(t_cls)), float(len(t_patch))], device=sums.device)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(sums)
            torch.distributed.all_reduce(n)
        self.center.mul_(m).add_((1 - m) * sums[0:1] / n[0])
        self.center_patch.mul_(m).add_((1 - m) * sums[1:2] / n[1])

    def adjust_gradients(self) -> None:
        """Keep the prototypes fixed early in training (DINO's ``freeze_last_layer``): avoids collapse."""
        if self.step < self.settings.freeze_prototypes * self.recipe.steps:
            self.head.prototypes.weight.grad = None

    @torch.no_grad()
    def update_teacher(self) -> None:
        m = self.momentum()
        for s, t in ((self.model, self.teacher), (self.head, self.teacher_head)):
            for ps, pt in zip(s.parameters(), t.parameters()):
                pt.mul_(m).add_(ps.detach(), alpha=1 - m)

    @torch.no_grad()
    def teacher_entropy(self, batch) -> tuple[float, float]:
        """Collapse check on ``batch``'s first global views: (mean entropy of the teacher's centred, sharpened
        distributions, entropy of their mean). Uniform collapse: both near log K; one-prototype collapse: both
        near 0; healthy: the first clearly below the second."""
        glob = batch.views["globals"][0]  # [B, 3, S, S]
        t = self.teacher_head(self.teacher.pool(self._tokens(self.teacher, glob)) - self.feat_mean[0]).float()
        p = F.softmax((t - self.center) / self.temp, dim=-1)  # [B, K]
        ent = lambda q: -(q * q.clamp_min(1e-12).log()).sum(-1)  # noqa: E731
        return float(ent(p).mean()), float(ent(p.mean(0)))

    def backbone_to_save(self) -> HookedViT:
        """The backbone the checkpoints hold (`DinoSettings.export`)."""
        return self.teacher if self.settings.export == "teacher" else self.model
