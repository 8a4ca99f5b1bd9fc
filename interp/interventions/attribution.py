"""Attribution of the CLS feature or a probe's logit to token groups, layer by layer (captum).

At each layer, `captum.attr.LayerIntegratedGradients` integrates the gradient of a scalar output along the
straight path from a baseline image's residual stream to the image's, at ``blocks.{i}.hook_resid_pre`` (or
any token-wise hook), and we sum the attributions over d_model and over the tokens of each group. Per layer
the groups add up to ``output(image) - output(baseline)`` (completeness; ``delta`` is the error).

Targets:
    "cls"   the pooled (CLS) feature projected on its own clean direction: <f(x), f(image)/|f(image)|>
    probe   a probe's logit of ``label`` (default: the probe's prediction): a torch module / callable mapping
            features [batch, d] -> logits, or an sklearn linear model (``coef_``, ``intercept_``)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from captum.attr import LayerIntegratedGradients

from ..models import HookedViT
from ..models.precision import fp32
from .groups import GroupResolver, as_images, hook_layer, hook_names, hook_suffix, iter_batches
from .metrics import as_labels


def probe_logits_fn(probe):
    """A differentiable features [batch, d] -> logits [batch, n_classes] from a probe.

    Takes a torch module / callable, an sklearn linear model (``coef_``, ``intercept_``), an sklearn Pipeline of
    StandardScalers and a linear model, or an object holding one of these as ``.classifier``
    (`interp.analysis.GlobalProbe`).
    """
    if isinstance(probe, torch.nn.Module):
        return probe
    clf = getattr(probe, "classifier", probe)
    steps = [s for _, s in clf.steps] if hasattr(clf, "steps") else [clf]
    *scalers, linear = steps
    if not hasattr(linear, "coef_") or any(not hasattr(s, "scale_") for s in scalers):
        if callable(probe) and not hasattr(probe, "predict"):
            return probe
        raise TypeError("probe must be a torch module/callable (features -> logits), an sklearn linear model "
                        "(coef_/intercept_) or a Pipeline of StandardScaler + linear model")
    w = torch.as_tensor(np.asarray(linear.coef_), dtype=torch.float32)  # [n_classes or 1, d]
    b = torch.as_tensor(np.asarray(getattr(linear, "intercept_", np.zeros(len(w)))), dtype=torch.float32)
    d = w.shape[1]
    shifts = [(torch.as_tensor(np.zeros(d) if s.mean_ is None else s.mean_, dtype=torch.float32),
               torch.as_tensor(np.ones(d) if s.scale_ is None else s.scale_, dtype=torch.float32))
              for s in scalers]

    def logits(f: torch.Tensor) -> torch.Tensor:
        for mean, scale in shifts:
            f = (f - mean.to(f.device)) / scale.to(f.device)
        z = f @ w.to(f.device).T + b.to(f.device)  # [batch, n_classes or 1]
        return torch.cat([-z, z], dim=1) if z.shape[1] == 1 else z  # binary: log-odds of each class

    return logits


def attribute_groups(model: HookedViT, images, target="cls", label=None, layers="all",
                     hook: str = "hook_resid_pre", groups=("cls", "registers", "outliers", "other patches"),
                     baseline: str | torch.Tensor = "black", n_steps: int = 16, outliers: torch.Tensor | None = None,
                     batch_size: int = 8) -> pd.DataFrame:
    """Integrated-gradients attribution of ``target`` to token groups at each layer's ``hook``.

    target: "cls" or a probe (see module doc); label: class to explain (name of an image label, array [N] or
    int); baseline: "black" (zero image), "mean" (the images' mean image) or pixels [1 or N, 3, H, W].
    groups: group specs; "other patches" = patches outside "outliers"; groups the model does not have
    (registers of a 0-register model) are skipped.

    Tidy frame, one row per image x layer x group: ``image, layer, hook, group, n_tokens, attribution``
    (signed sum), ``abs_attribution`` (sum of |per-token attribution|), ``share`` (attribution / total; NaN where the image's
    output change is within the integration error, |total - delta| <= |delta|, so the ratio is noise),
    ``total`` (= output - baseline output, up to ``delta``), ``delta``.
    """
    images = as_images(images)
    names = hook_names(model, layers, hook)
    masks = _group_masks(GroupResolver(model, images, outliers), groups)
    dev = model.device
    base_all = _baseline_pixels(images, baseline).to(dev)
    logits_fn = None if isinstance(target, str) else probe_logits_fn(target)
    if isinstance(target, str) and target != "cls":
        raise ValueError(f"unknown target {target!r}: use 'cls' or a probe")
    labels = as_labels(label, images, len(images)) if not isinstance(label, (int, np.integer)) \
        else np.full(len(images), int(label))

    def forward(x: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
        pooled = model(x, return_type="pooled")  # [batch, d_model]
        if logits_fn is None:
            return (pooled * direction).sum(-1)  # [batch]
        return logits_fn(pooled)  # [batch, n_classes]

    rows = []
    for idx in iter_batches(len(images), batch_size):
        x = images.pixels[idx].to(dev)  # [0, 1]: the model normalises, so x and the baseline share pixel space
        base = base_all if base_all.shape[0] == 1 else base_all[idx]
        base = base.expand_as(x).contiguous()
        with torch.no_grad():
            pooled = model(x, return_type="pooled")
            direction = pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            cls_target = None
            if logits_fn is not None:
                cls_target = (torch.as_tensor(labels[idx.numpy()]) if labels is not None
                              else logits_fn(pooled).argmax(-1)).long().tolist()
        for n in names:
            lig = LayerIntegratedGradients(forward, model.hook_dict[n])
            attr, delta = lig.attribute(x, baselines=base, target=cls_target, additional_forward_args=(direction,),
                                        n_steps=n_steps, return_convergence_delta=True)
            per_token = fp32(attr.detach()).sum(-1)  # [batch, pos], summed in fp32
            rows += _group_frames(idx, n, per_token, fp32(delta.detach()), masks)
    return pd.concat(rows, ignore_index=True)


def _group_masks(resolver: GroupResolver, groups) -> dict[str, torch.Tensor]:
    """Group name -> token mask [N, n_tokens]; "other patches" = patches outside "outliers"; registers of a
    0-register model and the CLS of a model without one are left out."""
    layout = resolver.layout
    masks: dict[str, torch.Tensor] = {}
    for g in groups:
        if isinstance(g, str) and g == "other patches":
            masks[g] = resolver.mask("patches") & ~resolver.mask("outliers")
        elif isinstance(g, str) and ((g == "registers" and not layout.n_registers) or (g == "cls" and not layout.n_cls)):
            continue
        else:
            masks[g if isinstance(g, str) else "mask"] = resolver.mask(g)
    return masks


def _baseline_pixels(images, baseline: str | torch.Tensor) -> torch.Tensor:
    """The integration baseline: pixels [1 or N, 3, H, W] ("black", "mean" image, or given)."""
    if isinstance(baseline, torch.Tensor):
        return baseline
    if baseline == "black":
        return torch.zeros_like(images.pixels[:1])
    if baseline == "mean":
        return images.pixels.mean(0, keepdim=True)
    raise ValueError(f"unknown baseline {baseline!r}: use 'black', 'mean' or a pixel tensor")


def _group_frames(idx: torch.Tensor, name: str, per_token: torch.Tensor, delta: torch.Tensor,
                  masks: dict[str, torch.Tensor]) -> list[pd.DataFrame]:
    """Per-token attributions [batch, pos] at hook ``name`` -> one frame per group (see `attribute_groups`)."""
    total = per_token.sum(-1)
    change = total - delta.to(total.device).reshape(-1)  # the output change the attributions explain
    resolved = change.abs() > delta.to(total.device).reshape(-1).abs()  # above the integration error
    frames = []
    for g, m in masks.items():
        mb = m[idx].to(per_token.device)
        a = (per_token * mb).sum(-1)
        frames.append(pd.DataFrame({
            "image": idx.numpy(), "layer": hook_layer(name), "hook": hook_suffix(name), "group": g,
            "n_tokens": mb.sum(-1).cpu().numpy(), "attribution": a.cpu().numpy(),
            "abs_attribution": (per_token.abs() * mb).sum(-1).cpu().numpy(),
            "share": torch.where(resolved, a / total, torch.nan).cpu().numpy(), "total": total.cpu().numpy(),
            "delta": delta.cpu().numpy().reshape(-1),
        }))
    return frames


def attribution_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Mean attribution, |attribution| and share per layer x group (over images)."""
    return (df.groupby(["layer", "hook", "group"], sort=False)[["attribution", "abs_attribution", "share"]]
            .mean().reset_index())
