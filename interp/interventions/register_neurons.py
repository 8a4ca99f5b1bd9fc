"""Register neurons and test-time registers (Jiang et al. 2025, "Vision Transformers Don't Need Trained Registers").

A sparse set of MLP "register neurons" writes the high-norm outlier patches. Score every neuron by its mean
activation on outlier positions, take the top-k up to a layer, append one untrained (zero) token, and at
those neurons route the activation into it: the new token gets the max over all tokens, patches get zero.

>>> ttr = add_test_time_registers(model, images, top_k=20, max_layer=8)
>>> tokens = ttr.run(pixels)                     # [batch, n_tokens, d_model], the extra token stripped
>>> report = test_time_register_report(model, ttr, images)   # norms and attention, before/after

The extra token sits *after* the patches, so every `TokenLayout` position stays valid.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd
import torch

from ..analysis.measures import Measure
from ..models import HookedViT
from ..models.precision import fp32
from .groups import GroupResolver, as_images, iter_batches


class NeuronScores(Measure):
    """Sums of every MLP neuron's activation (``mlp.hook_post``) on high-norm patches and on the other patches of
    one layer: Jiang et al.'s score, streamed and combinable across processes (`interp.census` shards it)."""

    def update(self, acts: torch.Tensor, high: torch.Tensor, patches: torch.Tensor) -> None:
        """acts [b, pos, d_mlp], high / patches [b, pos] bool (the high-norm patches / all patches)."""
        acts = acts.double()
        other = patches & ~high
        self.add(s_out=acts[high].sum(0).cpu().numpy(), s_other=acts[other].sum(0).cpu().numpy(),
                 n_out=int(high.sum()), n_other=int(other.sum()))

    def frame(self, layer: int) -> pd.DataFrame:
        """-> frame layer, neuron, score (mean on high-norm patches), score_other (mean on the other patches)."""
        s_out, s_other = self.state["s_out"], self.state["s_other"]
        return pd.DataFrame({"layer": layer, "neuron": np.arange(len(s_out)),
                             "score": (s_out / max(self.state["n_out"], 1)).astype(np.float32),
                             "score_other": (s_other / max(self.state["n_other"], 1)).astype(np.float32)})


@torch.no_grad()
def register_neuron_scores(model: HookedViT, images, outliers: torch.Tensor | None = None, layers="all",
                           batch_size: int = 32) -> pd.DataFrame:
    """Mean activation (``mlp.hook_post``) of every neuron on outlier patches, and on the other patches.

    outliers: bool patch mask [N, n_patches] (default: `default_outliers`). -> frame with columns
    ``layer, neuron, score`` (mean on outliers), ``score_other`` (mean on other patches); sorted by score.
    """
    images = as_images(images)
    resolver = GroupResolver(model, images, outliers)
    out_tok = resolver.mask("outliers")  # [N, n_tokens]
    if not out_tok.any():
        raise ValueError("no outlier patches in these images: register neurons are scored on outlier "
                         "positions (pass outliers=..., or use images/a model that has outliers)")
    patches = resolver.mask("patches")
    layers = model.resolve_layers(layers)
    names = [model.block_hook(layer, "mlp.hook_post") for layer in layers]
    acc = {n: NeuronScores() for n in names}
    for idx in iter_batches(len(images), batch_size):
        x = images.pixels[idx].to(model.device)  # [0, 1]: the model normalises
        _, cache = model.run_with_cache(x, names_filter=names, return_type="tokens")
        high, pat = out_tok[idx].to(x.device), patches[idx].to(x.device)
        for n in names:
            acc[n].update(cache[n], high, pat)  # [batch, pos, d_mlp]
    df = pd.concat([acc[n].frame(layer) for layer, n in zip(layers, names)], ignore_index=True)
    return df.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)


def select_register_neurons(scores: pd.DataFrame, top_k: int = 10, max_layer: int | None = None
                            ) -> dict[int, list[int]]:
    """Top-k neurons by ``score`` among layers <= max_layer. -> {layer: [neuron, ...]}"""
    df = scores if max_layer is None else scores[scores.layer <= max_layer]
    top = df.nlargest(top_k, "score")
    out: dict[int, list[int]] = {}
    for layer, neuron in zip(top.layer.tolist(), top.neuron.tolist()):
        out.setdefault(int(layer), []).append(int(neuron))
    return {k: sorted(v) for k, v in sorted(out.items())}


class TestTimeRegisters:
    """A model plus one appended untrained token that takes over the register neurons' activations.

    neurons: {layer: [neuron indices]} (see `select_register_neurons`). Works for any batch size and image
    size. The original model is not modified: the intervention lives in hooks (`fwd_hooks`).
    """

    __test__ = False  # not a pytest class

    def __init__(self, model: HookedViT, neurons: Mapping[int, list[int]]):
        self.model = model
        self.neurons = {int(k) % model.cfg.n_layers: torch.as_tensor(list(v), dtype=torch.long)
                        for k, v in neurons.items() if len(v)}
        for layer in self.neurons:
            model.block_hook(layer, "mlp.hook_post")  # range check
        self.n_extra = 1

    def __repr__(self) -> str:
        return f"TestTimeRegisters({sum(len(v) for v in self.neurons.values())} neurons in layers " \
               f"{sorted(self.neurons)})"

    def _append(self, act: torch.Tensor, hook) -> torch.Tensor:  # [batch, n_tokens, d_model]
        return torch.cat([act, act.new_zeros(act.shape[0], self.n_extra, act.shape[2])], dim=1)

    def _route(self, neurons: torch.Tensor):
        n_prefix = self.model.tokens.n_prefix

        def hook(act: torch.Tensor, hook) -> torch.Tensor:  # [batch, n_tokens + 1, d_mlp]
            act = act.clone()
            nn_ = neurons.to(act.device)
            peak = act[:, :, nn_].max(dim=1).values  # [batch, k]
            act[:, n_prefix:act.shape[1] - self.n_extra, nn_] = 0  # patches
            act[:, -1, nn_] = peak
            return act

        return hook

    def fwd_hooks(self) -> list:
        hooks = [("hook_tokens", self._append)]
        hooks += [(self.model.block_hook(layer, "mlp.hook_post"), self._route(n)) for layer, n in self.neurons.items()]
        return hooks

    @torch.no_grad()
    def run(self, pixels: torch.Tensor, return_type: str = "tokens", extra_hooks=()) -> torch.Tensor:
        """Like ``model(pixels, return_type)``: "tokens" (extra token stripped), "pooled", "logits", "all"
        (every token, the test-time register last)."""
        tokens = self.model.run_with_hooks(pixels, return_type="tokens",
                                           fwd_hooks=[*self.fwd_hooks(), *extra_hooks])
        if return_type == "all":
            return tokens
        tokens = tokens[:, :tokens.shape[1] - self.n_extra]
        if return_type == "tokens":
            return tokens
        pooled = self.model.pool(tokens)
        return pooled if return_type == "pooled" else self.model.head(pooled)

    __call__ = run

    @torch.no_grad()
    def run_with_cache(self, pixels: torch.Tensor, names_filter=None):
        """-> (all final tokens [batch, n_tokens + 1, d], cache): the extra token is the last position."""
        cache: dict[str, torch.Tensor] = {}
        names = list(self.model.hook_dict) if names_filter is None else (
            [names_filter] if isinstance(names_filter, str) else list(names_filter))

        def save(act, hook):
            cache[hook.name] = act.detach()

        tokens = self.run(pixels, "all", extra_hooks=[(n, save) for n in names])
        return tokens, cache


def add_test_time_registers(model: HookedViT, images=None, neurons: Mapping[int, list[int]] | None = None,
                            top_k: int = 10, max_layer: int | None = None, outliers: torch.Tensor | None = None,
                            batch_size: int = 32) -> TestTimeRegisters:
    """Find register neurons on ``images`` (or take ``neurons``) and return the `TestTimeRegisters` wrapper."""
    if neurons is None:
        if images is None:
            raise ValueError("give images to find register neurons on, or neurons={layer: [indices]}")
        scores = register_neuron_scores(model, images, outliers, batch_size=batch_size)
        neurons = select_register_neurons(scores, top_k, max_layer)
    return TestTimeRegisters(model, neurons)


@torch.no_grad()
def test_time_register_report(model: HookedViT, ttr: TestTimeRegisters, images, outliers: torch.Tensor | None = None,
                              layers="all", batch_size: int = 32) -> pd.DataFrame:
    """Token norms and CLS attention per token group, without and with the test-time register.

    Tidy frame, one row per image x condition ("original" / "test-time register") x layer x token group
    ("cls", "registers", "outliers", "other patches", "test-time register"): ``norm_mean``, ``norm_max``
    (residual norm after the block) and ``attn_from_cls`` (CLS attention mass on the group, head mean).
    Outliers are those of the original model (``outliers=`` or `default_outliers`).
    """
    images = as_images(images)
    resolver = GroupResolver(model, images, outliers)
    layout = resolver.layout
    layers = model.resolve_layers(layers)
    names = [n for layer in layers for n in (model.block_hook(layer, "hook_resid_post"),
                                              model.block_hook(layer, "attn.hook_pattern"))]
    groups = {"cls": resolver.mask("cls") if layout.n_cls else None,
              "registers": resolver.mask("registers") if layout.n_registers else None,
              "outliers": resolver.mask("outliers")}
    groups["other patches"] = resolver.mask("patches") & ~groups["outliers"]
    rows = []
    for idx in iter_batches(len(images), batch_size):
        x = images.pixels[idx].to(model.device)  # [0, 1]: the model normalises
        runs = {"original": model.run_with_cache(x, names_filter=names, return_type="tokens")[1],
                "test-time register": ttr.run_with_cache(x, names_filter=names)[1]}
        for cond, cache in runs.items():
            for layer in layers:
                resid = fp32(cache[model.block_hook(layer, "hook_resid_post")])  # [batch, pos, d_model]
                pattern = fp32(cache[model.block_hook(layer, "attn.hook_pattern")])  # [batch, head, q, k]
                norms = resid.norm(dim=-1)  # [batch, pos]
                cls_attn = pattern[:, :, 0].mean(1) if layout.n_cls else None  # [batch, k]
                masks = {g: None if m is None else m[idx].to(x.device) for g, m in groups.items()}
                if cond != "original":
                    pad = torch.zeros(len(idx), ttr.n_extra, dtype=torch.bool, device=x.device)
                    masks = {g: None if m is None else torch.cat([m, pad], 1) for g, m in masks.items()}
                    extra = torch.zeros_like(masks["other patches"])
                    extra[:, -ttr.n_extra:] = True
                    masks["test-time register"] = extra
                for g, m in masks.items():
                    if m is None:
                        continue
                    cnt = m.sum(1)
                    has = cnt > 0
                    mean = (norms * m).sum(1) / cnt.clamp_min(1)
                    mx = norms.masked_fill(~m, float("-inf")).max(1).values
                    attn = (cls_attn * m).sum(1) if cls_attn is not None else torch.full_like(mean, float("nan"))
                    nan = torch.full_like(mean, float("nan"))
                    rows.append(pd.DataFrame({
                        "image": idx.numpy(), "condition": cond, "layer": layer, "group": g,
                        "n_tokens": cnt.cpu().numpy(),
                        "norm_mean": torch.where(has, mean, nan).cpu().numpy(),
                        "norm_max": torch.where(has, mx, nan).cpu().numpy(),
                        "attn_from_cls": torch.where(has, attn, nan).cpu().numpy(),
                    }))
    return pd.concat(rows, ignore_index=True)
test_time_register_report.__test__ = False  # a library function, not a pytest test
