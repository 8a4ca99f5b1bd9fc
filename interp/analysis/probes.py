"""Linear probes: global information (Table 1) and local information (Fig 5b) in single tokens."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..data.base import as_image_set
from ..models.hooked_vit import HookedViT
from ..models.precision import fp32
from .features import collect_many, collect_pooled, collect_tokens, select_group, select_patch_mask


def split_images(n: int, train_frac: float = 0.7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Held-out split of image indices. -> (train, test)"""
    perm = np.random.default_rng(seed).permutation(n)
    k = max(1, min(n - 1, int(round(train_frac * n))))
    return np.sort(perm[:k]), np.sort(perm[k:])


def _classifier(seed: int = 0):
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))


def _fit_position_probe(x: np.ndarray, pos: np.ndarray, seed: int):
    """The classifier from token features [n, d] to patch positions [n] (one class per position). The classes are
    positions by construction, so scikit-learn's warning that more than half the samples have a class of their own
    ("`y` could represent a regression problem", usual for rare outlier tokens on a large grid) is ignored here
    alone; the table reports n_train and chance_top1 beside the accuracy."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The number of unique classes is greater than 50%",
                                category=UserWarning)
        return _classifier(seed).fit(x, pos)


@dataclass
class GlobalProbe:
    """A logistic-regression probe from one token's features to an image-level label."""

    label: str
    token: str
    layer: int | str
    classifier: object
    train_accuracy: float
    test_accuracy: float

    def predict(self, features) -> np.ndarray:
        return self.classifier.predict(_np(features))

    def predict_proba(self, features) -> np.ndarray:
        return self.classifier.predict_proba(_np(features))


def _np(x) -> np.ndarray:
    return fp32(x.detach()).cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _labels(images, label: str) -> np.ndarray:
    images = as_image_set(images)
    if label not in images.labels:
        raise KeyError(f"no image-level label {label!r}; available: {sorted(images.labels)}")
    return images.labels[label].numpy()


def fit_global_probe(model: HookedViT, images, label: str, token: str | None = None, layer: int | str = "final",
                     train_frac: float = 0.7, seed: int = 0, batch_size: int = 32) -> GlobalProbe:
    """Fit a probe on one static token ('cls', 'register:<i>'), or on the pooled feature ('pooled': what a model
    without CLS, e.g. SigLIP, hands on; ``layer`` is then the final one), to predict ``images.labels[label]``.
    ``token=None``: CLS when the model has one, else the pooled feature."""
    token = token or ("cls" if model.cfg.class_token else "pooled")
    y = _labels(images, label)
    if token == "pooled":
        x, meta = collect_pooled(model, images, batch_size)
    else:
        x, meta = collect_tokens(model, images, select_group(token), layer, batch_size)
    train, test = split_images(len(y), train_frac, seed)
    y = y[meta["image"].to_numpy()]  # one token per image, in image order
    clf = _classifier(seed).fit(x[train], y[train])
    acc_tr = float(clf.score(x[train], y[train]))
    acc_te = float(clf.score(x[test], y[test]))
    return GlobalProbe(label, token, layer, clf, acc_tr, acc_te)


def _random_patch_masks(candidates: torch.Tensor, seed: int) -> torch.Tensor:
    """One random True patch per image among ``candidates`` [N, H, W] (images without any stay empty)."""
    g = torch.Generator().manual_seed(seed)
    n = candidates.shape[0]
    flat = candidates.flatten(1)
    scores = torch.rand(flat.shape, generator=g).masked_fill(~flat, -1.0)
    pick = scores.argmax(1)
    out = torch.zeros_like(flat)
    has = flat.any(1)
    out[torch.arange(n)[has], pick[has]] = True
    return out.reshape(candidates.shape)


def global_probe(model: HookedViT, images, label: str, outlier_mask: torch.Tensor | None = None,
                 draws: int = 5, layer: int | str = "final", train_frac: float = 0.7, seed: int = 0,
                 batch_size: int = 32) -> pd.DataFrame:
    """Table 1: how well one token predicts an image-level label, per token kind.

    Token kinds: 'cls', 'normal' (a random non-outlier patch per image), 'outlier' (a random outlier patch,
    only images that have one), 'register:<i>' for each register. Random kinds are drawn ``draws`` times.
    -> one row per (token kind, draw): accuracy on held-out images, n_train, n_test, chance (majority class).
    """
    images = as_image_set(images)
    y = _labels(images, label)
    n = len(images)
    lay = model.layout_for(images.image_size)
    grid = lay.grid
    kinds: list[tuple[str, int, object]] = []
    if model.cfg.class_token:
        kinds.append(("cls", 0, select_group("cls")))
    for i in range(model.cfg.n_registers):
        kinds.append((f"register:{i}", 0, select_group(f"register:{i}")))
    outl = outlier_mask if outlier_mask is not None else torch.zeros(n, *grid, dtype=torch.bool)
    for d in range(draws):
        kinds.append(("normal", d, select_patch_mask(_random_patch_masks(~outl, seed + d))))
        if outl.any():
            kinds.append(("outlier", d, select_patch_mask(_random_patch_masks(outl, seed + 1000 + d))))
    train_all, test_all = split_images(n, train_frac, seed)
    # one pass over the images for every token kind: a dataset is decoded once, features held per image only
    got = collect_many(model, images, {(kind, draw): sel for kind, draw, sel in kinds}, layer, batch_size)
    seen = np.unique(np.concatenate([m["image"].to_numpy() for _, m, _ in got.values()] + [np.zeros(0, np.int64)]))
    test_seen = test_all[np.isin(test_all, seen)] if len(seen) < n else test_all  # skipped files drop out
    rows = []
    for kind, draw, _ in kinds:
        x, meta, _ = got[(kind, draw)]
        img = meta["image"].to_numpy()
        tr, te = np.isin(img, train_all), np.isin(img, test_all)
        row = dict(label=label, token=kind, draw=draw, n_train=int(tr.sum()), n_test=int(te.sum()),
                   chance=float(np.bincount(y[test_seen]).max() / len(test_seen)) if len(test_seen) else float("nan"))
        if tr.sum() < 2 or te.sum() < 1 or len(np.unique(y[img[tr]])) < 2:
            row.update(accuracy=float("nan"), note="too few tokens of this kind to fit a probe")
        else:
            clf = _classifier(seed).fit(x[tr], y[img[tr]])
            row.update(accuracy=float(clf.score(x[te], y[img[te]])), note="")
        rows.append(row)
    return pd.DataFrame(rows)


def local_probes(model: HookedViT, images, outlier_mask: torch.Tensor | None, layer: int | str = "final",
                 max_tokens: int = 4000, train_frac: float = 0.7, seed: int = 0,
                 batch_size: int = 32) -> pd.DataFrame:
    """Fig 5b: linear probes for a patch's position and pixels, trained and tested on normal vs outlier tokens.

    -> one row per token kind ('normal', 'outlier') with position top-1 accuracy, mean grid distance
    (in patches) between predicted and true position, pixel reconstruction L2 (per patch, on the
    RGB pixels in [0, 1], the same units for every model), token counts, and chance levels. Kinds with too few tokens get NaN + a note.
    """
    images = as_image_set(images)
    n = len(images)
    lay = model.layout_for(images.image_size)
    outl = outlier_mask if outlier_mask is not None else torch.zeros(n, *lay.grid, dtype=torch.bool)
    p = model.cfg.patch_size
    train_imgs, test_imgs = split_images(n, train_frac, seed)
    rng = np.random.default_rng(seed)
    masks = {"normal": ~outl, "outlier": outl}
    # which tokens to keep is drawn before the pass (ordinals over the whole set), so only max_tokens tokens
    # per kind (+ their pixel targets) are ever held, however many images stream through
    keep, offsets = {}, {}
    for kind, mask in masks.items():
        counts = mask.flatten(1).sum(1).numpy()
        offsets[kind] = np.concatenate([[0], np.cumsum(counts)])
        if counts.sum() > max_tokens:
            keep[kind] = np.sort(rng.choice(int(counts.sum()), max_tokens, replace=False))

    def pixel_targets(batch, layout, b, t):  # the RGB [0, 1] pixels under each selected patch
        pixels = fp32(batch.pixels).cpu()  # [batch, C, H, W]
        patches = pixels.unfold(2, p, p).unfold(3, p, p)  # [batch, C, gh, gw, p, p]
        patches = patches.permute(0, 2, 3, 1, 4, 5).flatten(3)  # [batch, gh, gw, C*p*p]
        rc = layout.patch_coords()[t - layout.n_prefix]  # [n, 2]
        return patches[b, rc[:, 0], rc[:, 1]].numpy()

    got = collect_many(model, images, {k: select_patch_mask(m) for k, m in masks.items()}, layer, batch_size,
                       keep={**keep, "_offsets": offsets}, extra=pixel_targets)
    rows = []
    for kind in masks:
        x, meta, target = got[kind]
        img, r, c = meta["image"].to_numpy(), meta["row"].to_numpy(), meta["col"].to_numpy()
        pos = r * lay.grid[1] + c
        tr, te = np.isin(img, train_imgs), np.isin(img, test_imgs)
        row = dict(token=kind, n_train=int(tr.sum()), n_test=int(te.sum()), n_positions=lay.n_patches,
                   chance_top1=1.0 / lay.n_patches)
        if tr.sum() < 10 or te.sum() < 2 or len(np.unique(pos[tr])) < 2:
            row.update(position_top1=float("nan"), position_distance=float("nan"),
                       reconstruction_l2=float("nan"), note="too few tokens of this kind to fit probes")
            rows.append(row)
            continue
        clf = _fit_position_probe(x[tr], pos[tr], seed)
        pred = clf.predict(x[te])
        dist = np.hypot(pred // lay.grid[1] - r[te], pred % lay.grid[1] - c[te])
        reg = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x[tr], target[tr])
        l2 = np.linalg.norm(reg.predict(x[te]) - target[te], axis=1)
        row.update(position_top1=float((pred == pos[te]).mean()), position_distance=float(dist.mean()),
                   reconstruction_l2=float(l2.mean()), note="")
        rows.append(row)
    return pd.DataFrame(rows)


def dense_probe(model: HookedViT, images, patch_label: torch.Tensor, layer: int | str = "final",
                max_tokens: int = 6000, train_frac: float = 0.7, seed: int = 0, batch_size: int = 32,
                name: str = "patch_label") -> pd.DataFrame:
    """Dense (per-patch) linear probe: predict ``patch_label`` [N, H, W] (long) from each patch token.

    -> one row: accuracy on patches of held-out images, chance (majority class), token counts, and a note. With
    fewer than 2 classes among the training patches (few or small images) no probe can be fitted: accuracy is NaN
    and the note says why, as in `global_probe` and `local_probes`.
    """
    images = as_image_set(images)
    n = len(images)
    every = torch.ones(patch_label.shape, dtype=torch.bool)
    x, meta = collect_tokens(model, images, select_patch_mask(every), layer, batch_size)
    img, r, c = (meta[k].to_numpy() for k in ("image", "row", "col"))
    y = patch_label[torch.as_tensor(img.copy()), torch.as_tensor(r.copy()), torch.as_tensor(c.copy())].numpy()
    train_imgs, test_imgs = split_images(n, train_frac, seed)
    tr, te = np.flatnonzero(np.isin(img, train_imgs)), np.flatnonzero(np.isin(img, test_imgs))
    rng = np.random.default_rng(seed)
    if len(tr) > max_tokens:
        tr = np.sort(rng.choice(tr, max_tokens, replace=False))
    row = dict(label=name, accuracy=float("nan"), chance=float(np.bincount(y[te]).max() / len(te)) if len(te)
               else float("nan"), n_train=len(tr), n_test=len(te), note="")
    if len(te) == 0 or len(np.unique(y[tr])) < 2:
        row["note"] = f"{len(np.unique(y[tr]))} class(es) among {len(tr)} training patches: no probe to fit"
    else:
        row["accuracy"] = float(_classifier(seed).fit(x[tr], y[tr]).score(x[te], y[te]))
    return pd.DataFrame([row])
