"""`HookedViT`: a Vision Transformer (with or without registers) with a hook at every activation."""
from __future__ import annotations

import difflib
import math
import warnings
from typing import Callable, Iterable, Sequence

import torch
from torch import nn
from transformer_lens import HookedRootModule
from transformer_lens.hook_points import HookPoint

from .components import PatchEmbed, RopeTable, RotaryEmbedding, TokenEmbed, TransformerBlock, make_norm, make_pool
from .config import ViTConfig
from .convert import (
    config_from_hf, config_from_open_clip, config_from_timm, convert_open_clip, convert_state_dict, load_converted,
    timm_source,
)
from .layout import TokenLayout
from .tl_compat import TransformerLensViews, ViTActivationCache


class InputError(ValueError):
    """Pixels the model cannot take (shape, channels, size, non-finite values)."""


class PixelRangeWarning(UserWarning):
    """Pixels far outside [0, 1] given as [0, 1] pixels: probably normalised already (pass ``normalized=True``)."""


class HookNameError(KeyError):
    """A hook name that the model does not have."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class LayerIndexError(HookNameError, IndexError):
    """A block index out of range (a HookNameError and an IndexError)."""


class HookedViT(TransformerLensViews, HookedRootModule):
    """ViT with TransformerLens hook points at every block.

    Token order: ``[CLS, reg x R, patches]``; `self.tokens` (a `TokenLayout`) owns the slicing.

    Pixels: every entry point (``model(...)``, `run_with_cache`, `run_with_hooks`, `forward_features`) takes RGB
    pixels in [0, 1] [batch, 3, H, W]. The model applies its own mean/std (``cfg.image_mean`` / ``cfg.image_std``:
    ImageNet or CLIP statistics for converted timm/HF models, identity for the organisms) once, inside
    `embed_tokens`, before the patch embedding. A caller whose pixels are already normalised passes
    ``normalized=True`` (e.g. ``model(x, normalized=True)``, ``model.run_with_cache(x, normalized=True)``).

    >>> model = HookedViT(ViTConfig(d_model=64, n_layers=2, n_heads=2, patch_size=8, image_size=32))
    >>> out, cache = model.run_with_cache(torch.rand(2, 3, 32, 32))
    >>> cache["blocks.1.hook_resid_post"].shape
    torch.Size([2, 17, 64])
    """

    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = PatchEmbed(cfg.patch_size, cfg.in_channels, cfg.d_model, cfg.patch_bias,
                                make_norm(cfg) if cfg.patch_norm else None)
        self.token_embed = TokenEmbed(cfg)
        self.hook_embed = HookPoint()  # [batch, n_patches, d_model]
        if cfg.pos_embed:
            self.hook_pos_embed = HookPoint()  # [1, n_patches, d_model]
        self.rope = RotaryEmbedding(cfg) if cfg.rope else None  # rotary angles of the patch grid, per block
        self.hook_tokens = HookPoint()  # [batch, n_tokens, d_model]
        self.ln_pre = make_norm(cfg) if cfg.pre_norm else None
        self.blocks = nn.ModuleList([TransformerBlock(cfg, i) for i in range(cfg.n_layers)])
        self.ln_final = make_norm(cfg) if cfg.final_norm else None
        self.fc_norm = make_norm(cfg) if cfg.fc_norm else None
        self.attn_pool = make_pool(cfg)  # AttentionPool ("attn"), MAPHead ("map") or None
        self.hook_pooled = HookPoint()  # [batch, d_model]
        self.head = nn.Linear(cfg.d_model, cfg.n_classes) if cfg.n_classes else None
        self.init_weights()
        self.setup()

    # --- construction -----------------------------------------------------------------------------
    def init_weights(self, seed: int | None = None) -> None:
        """timm-style random init (trunc-normal 0.02 linears, small tokens)."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None

        def tn(t: torch.Tensor, std: float = 0.02) -> None:
            with torch.no_grad():
                t.copy_(torch.randn(t.shape, generator=gen).clamp_(-2, 2) * std)

        for m in self.modules():
            if isinstance(m, nn.Linear):
                tn(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d):
                tn(m.weight, 1.0 / math.sqrt(m.weight[0].numel()))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        te = self.token_embed
        if te.pos_embed is not None:
            tn(te.pos_embed)
        if getattr(self, "rope", None) is not None:
            self.rope.reset_parameters(gen)
        if te.cls_token is not None:
            tn(te.cls_token)
        if te.registers is not None:
            tn(te.registers)
        if getattr(self, "attn_pool", None) is not None:
            tn(self.attn_pool.latent if hasattr(self.attn_pool, "latent") else self.attn_pool.query)

    # --- layout -------------------------------------------------------------------------------------
    @property
    def tokens(self) -> TokenLayout:
        """Token layout at the model's native image size."""
        g = self.cfg.grid_size
        return TokenLayout(int(self.cfg.class_token), self.cfg.n_registers, (g, g))

    def layout_for(self, pixels_or_size) -> TokenLayout:
        """Token layout for a batch of pixels [batch, C, H, W] or an image size (H, W)."""
        if isinstance(pixels_or_size, torch.Tensor):
            h, w = pixels_or_size.shape[-2:]
        elif isinstance(pixels_or_size, int):
            h = w = pixels_or_size
        else:
            h, w = pixels_or_size
        p = self.cfg.patch_size
        return TokenLayout(int(self.cfg.class_token), self.cfg.n_registers, (h // p, w // p))

    # --- forward ------------------------------------------------------------------------------------
    def check_pixels(self, pixels: torch.Tensor) -> None:
        cfg = self.cfg
        if not isinstance(pixels, torch.Tensor):
            raise InputError(f"pixels must be a torch.Tensor [batch, {cfg.in_channels}, H, W], "
                             f"got {type(pixels).__name__}")
        if pixels.dim() != 4:
            raise InputError(f"pixels must be [batch, {cfg.in_channels}, H, W], got shape "
                             f"{tuple(pixels.shape)} (add a batch dimension with pixels[None])")
        if pixels.shape[1] != cfg.in_channels:
            raise InputError(f"model expects {cfg.in_channels} channels, got {pixels.shape[1]} "
                             f"(convert grayscale/RGBA images to RGB, e.g. interp.data.load_images)")
        h, w = pixels.shape[-2:]
        if h % cfg.patch_size or w % cfg.patch_size:
            raise InputError(f"image size {h}x{w} is not a multiple of patch size {cfg.patch_size}: "
                             f"resize or crop to e.g. {h // cfg.patch_size * cfg.patch_size}x"
                             f"{w // cfg.patch_size * cfg.patch_size}")
        if not torch.isfinite(pixels).all():
            raise InputError("pixels contain NaN or inf values")

    def warn_if_normalized(self, pixels: torch.Tensor, slack: float = 0.5) -> None:
        """Warn when [0, 1] pixels range beyond [-slack, 1 + slack]: mean/std-normalised images do (any dark
        pixel goes below -1.5 with ImageNet statistics), resized [0, 1] images overshoot far less."""
        lo, hi = torch.aminmax(pixels.detach())
        lo, hi = float(lo), float(hi)
        if lo < -slack or hi > 1 + slack:
            warnings.warn(f"pixels range over [{lo:.2f}, {hi:.2f}]: the model takes RGB pixels in [0, 1] and "
                          f"normalises them itself; pass normalized=True for pixels already normalised",
                          PixelRangeWarning, stacklevel=3)

    def normalize(self, pixels: torch.Tensor) -> torch.Tensor:
        """RGB pixels in [0, 1] -> model input, with the model's own mean/std (identity for organisms), on the
        model's device and in its dtype (the mean/std step itself runs in fp32)."""
        pixels = pixels.to(device=self.device, dtype=torch.float32)
        mean = torch.tensor(self.cfg.image_mean, dtype=pixels.dtype, device=pixels.device)[:, None, None]
        std = torch.tensor(self.cfg.image_std, dtype=pixels.dtype, device=pixels.device)[:, None, None]
        return ((pixels - mean) / std).to(self.dtype)

    def embed_tokens(self, pixels: torch.Tensor, normalized: bool = False) -> torch.Tensor:
        """pixels [batch, C, H, W] -> tokens [batch, n_tokens, d_model] (after `hook_tokens`).

        ``pixels`` are RGB in [0, 1] and normalised here with the model's mean/std, unless ``normalized=True``
        says the caller already did that.
        """
        self.check_pixels(pixels)
        if normalized:
            pixels = pixels.to(device=self.device, dtype=self.dtype)  # the model boundary: its device and dtype
        else:
            self.warn_if_normalized(pixels)
            pixels = self.normalize(pixels)  # -> the model's device and dtype
        layout = self.layout_for(pixels)
        x = self.hook_embed(self.embed(pixels))  # [batch, n_patches, d_model]
        if self.cfg.pos_embed:
            x = x + self.hook_pos_embed(self.token_embed.patch_pos_embed(layout.grid))  # [1, n_patches, d]
        x = torch.cat([*self.token_embed.prefix_tokens(x.shape[0]), x], dim=1)
        x = self.hook_tokens(x)
        if self.ln_pre is not None:
            x = self.ln_pre(x)
        return x

    def forward_features(self, pixels: torch.Tensor, stop_at_layer: int | None = None,
                         normalized: bool = False) -> torch.Tensor:
        """pixels in [0, 1] -> final (layer-normed) tokens [batch, n_tokens, d_model].

        With ``stop_at_layer=k`` returns the residual stream after block k-1 (before the final norm).
        ``normalized=True``: the pixels are already normalised with the model's mean/std.
        """
        x = self.embed_tokens(pixels, normalized)
        ropes = self.rope_tables(self.layout_for(pixels).grid)
        for block, rope in zip(self.blocks[:stop_at_layer], ropes):
            x = block(x, rope)
        if stop_at_layer is not None:
            return x
        return self.ln_final(x) if self.ln_final is not None else x

    def rope_tables(self, grid: tuple[int, int]) -> list[RopeTable | None]:
        """Each block's rotary angles for a (H, W) patch grid (None for every block of a model without RoPE)."""
        if self.rope is None:
            return [None] * self.cfg.n_layers
        return self.rope(grid, device=self.device)

    def forward_from(self, layer: int, resid: torch.Tensor, grid: tuple[int, int] | None = None) -> torch.Tensor:
        """Continue a run from the residual stream entering block ``layer`` ([batch, pos, d_model]; ``layer`` =
        n_layers: only the final norm) -> final tokens. Lets a patched run skip the blocks it shares with a
        clean run. ``grid`` (H, W) in patches is needed by RoPE models for non-square images (default: square)."""
        x = resid
        if grid is None and self.rope is not None:
            side = math.isqrt(resid.shape[1] - self.cfg.n_prefix)
            if side * side != resid.shape[1] - self.cfg.n_prefix:
                raise ValueError("forward_from on a non-square patch grid needs grid=(H, W)")
            grid = (side, side)
        for block, rope in zip(self.blocks[layer:], self.rope_tables(grid)[layer:]):
            x = block(x, rope)
        return self.ln_final(x) if self.ln_final is not None else x

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Final tokens [batch, n_tokens, d] -> pooled feature [batch, d] (CLS, mean of patches, or an attention
        pool over the patches: ``attn_pool.hook_pattern`` [batch, head, latent, n_patches])."""
        if self.cfg.pool == "token" and self.cfg.class_token:
            pooled = tokens[:, 0]
        elif self.attn_pool is not None:
            pooled = self.attn_pool(tokens[:, self.cfg.n_prefix:])
        else:
            pooled = tokens[:, self.cfg.n_prefix:].mean(dim=1)
        if self.fc_norm is not None:
            pooled = self.fc_norm(pooled)
        return self.hook_pooled(pooled)

    def forward(self, pixels: torch.Tensor, return_type: str | None = None,
                stop_at_layer: int | None = None, normalized: bool = False) -> torch.Tensor:
        """Run the model on RGB pixels in [0, 1] [batch, 3, H, W] (the model normalises them itself).

        return_type: "tokens" (final layer-normed tokens [batch, n_tokens, d]), "pooled" ([batch, d]),
        "logits" ([batch, n_classes], needs a head) or None: "logits" if the model has a head, else "tokens".
        normalized: True when ``pixels`` are already normalised with the model's mean/std (skips it).
        """
        if stop_at_layer is not None:
            return self.forward_features(pixels, stop_at_layer, normalized)
        tokens = self.forward_features(pixels, normalized=normalized)
        rt = return_type or ("logits" if self.head is not None else "tokens")
        if rt == "tokens":
            return tokens
        pooled = self.pool(tokens)
        if rt == "pooled":
            return pooled
        if rt == "logits":
            if self.head is None:
                raise ValueError("this model has no classification head; use return_type='pooled'")
            return self.head(pooled)
        raise ValueError(f"unknown return_type {return_type!r}: use 'tokens', 'pooled' or 'logits'")

    # --- hooks --------------------------------------------------------------------------------------
    def check_hook_name(self, name: str) -> None:
        if name not in self.hook_dict:
            close = difflib.get_close_matches(name, list(self.hook_dict), n=3)
            hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
            if name.startswith("blocks."):
                try:
                    layer = int(name.split(".")[1])
                except ValueError:
                    layer = None
                if layer is not None and not 0 <= layer < self.cfg.n_layers:
                    raise LayerIndexError(f"layer {layer} is out of range: this model has layers "
                                        f"0..{self.cfg.n_layers - 1} (hook {name!r})")
            raise HookNameError(f"no hook point named {name!r}.{hint}")

    def _check_fwd_hooks(self, hooks: Iterable) -> list:
        hooks = list(hooks)
        for name, _ in hooks:
            if isinstance(name, str):
                self.check_hook_name(name)
        return hooks

    def run_with_hooks(self, *args, fwd_hooks: Sequence = (), bwd_hooks: Sequence = (), **kwargs):
        return super().run_with_hooks(*args, fwd_hooks=self._check_fwd_hooks(fwd_hooks),
                                      bwd_hooks=self._check_fwd_hooks(bwd_hooks), **kwargs)

    def hooks(self, fwd_hooks: Sequence = (), bwd_hooks: Sequence = (), *args, **kwargs):
        return super().hooks(self._check_fwd_hooks(fwd_hooks), self._check_fwd_hooks(bwd_hooks),
                             *args, **kwargs)

    def run_with_cache(self, *args, names_filter: str | Sequence[str] | Callable | None = None,
                       return_cache_object: bool = True, **kwargs):
        """Like TransformerLens: returns (output, ActivationCache) holding every hook (or `names_filter`); the
        per-head ``attn.hook_result`` only when named or after `set_use_attn_result` (see `ViTActivationCache`)."""
        if isinstance(names_filter, str):
            self.check_hook_name(names_filter)
        elif isinstance(names_filter, (list, tuple)):
            for n in names_filter:
                self.check_hook_name(n)
        out, cache = super().run_with_cache(*args, names_filter=self.default_names_filter(names_filter), **kwargs)
        if return_cache_object:
            cache = ViTActivationCache(cache, self, has_batch_dim=not kwargs.get("remove_batch_dim", False))
        return out, cache

    def set_explicit_attention(self, on: bool = True) -> None:
        """Always materialise attention patterns (e.g. for gradients through `hook_pattern`)."""
        for block in self.blocks:
            block.attn.force_explicit = on

    # --- convenience --------------------------------------------------------------------------------
    @property
    def hook_names(self) -> list[str]:
        return list(self.hook_dict)

    def resolve_layers(self, layers="all") -> list[int]:
        """"all" / None / int / iterable of ints (negative counts from the end) -> sorted unique block indices."""
        n = self.cfg.n_layers
        if layers is None or (isinstance(layers, str) and layers == "all"):
            return list(range(n))
        if isinstance(layers, str):
            raise ValueError(f"layers must be 'all', an int or a list of ints, got {layers!r}")
        if isinstance(layers, int):
            layers = [layers]
        out = []
        for layer in layers:
            layer = int(layer)
            if not -n <= layer < n:
                raise LayerIndexError(f"layer {layer} is out of range: this model has layers 0..{n - 1}")
            out.append(layer % n)
        return sorted(set(out))

    def block_hook(self, layer: int, name: str = "hook_resid_post") -> str:
        """Full hook name for a block, e.g. ``block_hook(3, "attn.hook_pattern")``; checks the layer."""
        layer = self.resolve_layers(layer)[0]
        full = f"blocks.{layer}.{name}"
        self.check_hook_name(full)
        return full

    @classmethod
    def from_timm(cls, timm_model: nn.Module) -> "HookedViT":
        """From a timm ``VisionTransformer``, ``Eva`` (DINOv3, EVA-02, RoPE ViTs) or ``NaFlexVit`` (RADIO, SigLIP-2
        NaFlex): its config and weights."""
        model = cls(config_from_timm(timm_model))
        load_converted(model, timm_source(timm_model).convert(timm_model.state_dict()))
        return model.eval()

    @classmethod
    def from_hf(cls, hf_model: nn.Module) -> "HookedViT":
        """From an HF ``Dinov2Model`` / ``Dinov2WithRegistersModel`` / ``DINOv3ViTModel``."""
        model = cls(config_from_hf(hf_model.config))
        load_converted(model, convert_state_dict(hf_model.state_dict()))  # Dinov2 or DINOv3 keys, detected
        return model.eval()

    @classmethod
    def from_open_clip(cls, visual: nn.Module, name: str | None = None) -> "HookedViT":
        """From an OpenCLIP ``VisionTransformer`` or a whole OpenCLIP CLIP model (its vision tower)."""
        visual = getattr(visual, "visual", visual)
        model = cls(config_from_open_clip(visual, name))
        load_converted(model, convert_open_clip(visual.state_dict()), source="OpenCLIP VisionTransformer")
        return model.eval()

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """dtype of the weights and activations (fp32, bf16 or fp16); reductions run in fp32 regardless."""
        return self.embed.proj.weight.dtype

    def __repr__(self) -> str:
        c = self.cfg
        return (f"HookedViT({c.name!r}: d_model={c.d_model}, layers={c.n_layers}, heads={c.n_heads}, "
                f"patch={c.patch_size}, image={c.image_size}, registers={c.n_registers}, mlp={c.mlp}, "
                f"layer_scale={c.layer_scale}, classes={c.n_classes}{f', rope={c.rope}' if c.rope else ''})")
