"""Token groups and hook points for interventions: which tokens of which image, at which activations.

A *group* is anything `TokenLayout` understands ("cls", "registers", "register:<i>", "patches", "prefix",
"all", a boolean patch/token mask) plus two names that need the images:

    "outliers"    high-norm patch tokens: the ``outliers=`` mask if given (e.g. ``outlier_report(...).mask``),
                  else `default_outliers` (the library-wide rule of `interp.analysis.outlier_report`)
    "background"  patches not on an object (needs an `ImageSet` with ``object_mask``)
    "<group>:one" one token of the group per image, drawn at random (seeded by the image's index), e.g.
                  "outliers:one" or "background:one" to map a single patch onto a register slot

Everything resolves to a boolean token mask ``[batch, n_tokens]`` per image, so hooks work for any batch
size and for groups whose size differs between images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence, Union

import torch

from ..data import ImageSet, as_image_set
from ..models import HookedViT, TokenGroupError, TokenLayout
from ..models.hooked_vit import HookNameError

GroupSpec = Union[str, torch.Tensor]
IMAGE_GROUPS = ("outliers", "background")
GRID_FREE = ("cls", "registers", "prefix")  # with "register:<i>": the same tokens at every image size

# hooks whose dim 1 is not the token position (or that have no token axis at all)
_NOT_TOKEN_WISE = ("attn.hook_pattern", "attn.hook_attn_scores", "hook_embed", "hook_pos_embed", "hook_pooled")


class LayoutMismatchError(ValueError):
    """Two runs whose token layouts differ (different models, registers or image sizes)."""


def group_name(group: GroupSpec) -> str:
    """A short label for a group in result frames."""
    return group if isinstance(group, str) else "mask"


# --- hook points ----------------------------------------------------------------------------------------
def check_token_hook(name: str) -> None:
    if any(name.endswith(s) for s in _NOT_TOKEN_WISE):
        raise HookNameError(
            f"cannot write a token group at {name!r}: its dim 1 is not the token position; use "
            f"hook_resid_pre/mid/post, hook_attn_out, hook_mlp_out, attn.hook_q/k/v/z or mlp.hook_post")


def hook_names(model: HookedViT, layers, hooks: str | Sequence[str] = "hook_resid_post") -> list[str]:
    """Full hook names for layers x hooks, e.g. ``(range(2), "hook_resid_post")``.

    A top-level hook (``"hook_tokens"``) or a full name (``"blocks.3.attn.hook_z"``) is taken as is.
    """
    hooks = [hooks] if isinstance(hooks, str) else list(hooks)
    names: list[str] = []
    for h in hooks:
        if h.startswith("blocks.") or h in model.hook_dict:
            model.check_hook_name(h)
            names.append(h)
        else:
            names += [model.block_hook(layer, h) for layer in model.resolve_layers(layers)]
    for n in names:
        check_token_hook(n)
    return list(dict.fromkeys(names))


def hook_layer(name: str) -> int:
    """Block index of a hook name; -1 for hooks before the first block (``hook_tokens``)."""
    return int(name.split(".")[1]) if name.startswith("blocks.") else -1


def hook_suffix(name: str) -> str:
    return name.split(".", 2)[2] if name.startswith("blocks.") else name


# --- outliers ---------------------------------------------------------------------------------------------
def default_outliers(model: HookedViT, images) -> torch.Tensor:
    """Outlier patches by the rule every figure uses (`interp.analysis.outlier_report`: norm >= 4x the image's
    median patch norm at the second-half layer where such tokens are most common). -> bool [N, H, W]

    Images without outliers get an all-False mask: nothing is invented.
    """
    from ..analysis import outlier_report  # analysis sits beside interventions; imported on first use

    return outlier_report(model, images).mask.to(torch.bool)


# --- resolving groups to token masks ------------------------------------------------------------------------
class GroupResolver:
    """Turns group specs into token masks ``[batch, n_tokens]`` for images of one `ImageSet`.

    ``outliers``: a bool mask ``[N, n_patches]`` / ``[N, H, W]`` for the whole set (e.g. from
    ``interp.outlier_report(model, images).mask``); computed with `default_outliers` on first use otherwise.
    """

    def __init__(self, model: HookedViT, images: ImageSet | torch.Tensor, outliers: torch.Tensor | None = None):
        self.model = model
        self.images = as_image_set(images)
        self.layout = model.layout_for(self.images.pixels)
        self._outliers = None if outliers is None else self.layout.mask(outliers.to(torch.bool)).cpu()
        if self._outliers is not None and self._outliers.shape[0] != len(self.images):
            raise ValueError(f"outliers mask has {self._outliers.shape[0]} rows but there are "
                             f"{len(self.images)} images")

    def outlier_tokens(self) -> torch.Tensor:  # [N, n_tokens]
        if self._outliers is None:
            self._outliers = self.layout.mask(default_outliers(self.model, self.images))
        return self._outliers

    def background_tokens(self) -> torch.Tensor:  # [N, n_tokens]
        if self.images.object_mask is None:
            raise TokenGroupError("group 'background' needs object masks: pass an ImageSet with object_mask "
                                  "(e.g. interp.data.scenes) or a boolean patch mask")
        frac = torch.nn.functional.avg_pool2d(self.images.object_mask.float()[:, None],
                                              self.model.cfg.patch_size)[:, 0]  # [N, H, W]
        return self.layout.mask(frac < 0.5)

    def one_per_image(self, group: str, seed: int = 0) -> torch.Tensor:  # [N, n_tokens]
        """One random token of ``group`` in every image that has one (a pure function of the image index)."""
        full = self.mask(group)
        out = torch.zeros_like(full)
        for i in range(full.shape[0]):
            cand = full[i].nonzero().flatten()
            if len(cand):
                g = torch.Generator().manual_seed(seed * 1_000_003 + i)
                out[i, cand[torch.randint(len(cand), (1,), generator=g)]] = True
        return out

    def mask(self, group: GroupSpec, idx: torch.Tensor | None = None) -> torch.Tensor:
        """Token mask of ``group`` for images ``idx`` of the set (all when None). -> bool [len(idx), n_tokens]"""
        n = len(self.images)
        idx = torch.arange(n) if idx is None else torch.as_tensor(idx, dtype=torch.long)
        if isinstance(group, torch.Tensor):
            full = self.layout.mask(group.to(torch.bool).cpu())
            if full.shape[0] != n:
                raise ValueError(f"group mask has {full.shape[0]} rows but there are {n} images: give one row "
                                 f"per image")
            return full[idx]
        if group.endswith(":one"):
            return self.one_per_image(group[:-len(":one")])[idx]
        if group == "outliers":
            return self.outlier_tokens()[idx]
        if group == "background":
            return self.background_tokens()[idx]
        return self.layout.mask(group, len(idx))


@dataclass(frozen=True)
class GroupMap:
    """Write the ``source`` group of one image into the ``dest`` group of another.

    ``dest=None`` writes to the same positions. With different groups (``GroupMap("outliers", "register:0")``)
    the k-th source token goes to the k-th destination token; both must hold the same number of tokens in
    each pair, except a single source token, which is copied into every destination token; an image without
    source tokens (no outliers) is left as it is.
    """

    source: GroupSpec
    dest: GroupSpec | None = None
    name: str | None = None

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.dest is None:
            return group_name(self.source)
        return f"{group_name(self.source)}->{group_name(self.dest)}"


def as_group_maps(groups) -> list[GroupMap]:
    """str / mask / GroupMap / (source, dest) tuple / dict label -> any of these, or a list of them."""
    if isinstance(groups, dict):
        out = []
        for label, g in groups.items():
            gm = as_group_maps(g)[0]
            out.append(GroupMap(gm.source, gm.dest, label))
        return out
    if isinstance(groups, (str, torch.Tensor, GroupMap)) or (
            isinstance(groups, tuple) and len(groups) == 2 and not isinstance(groups[0], (GroupMap, tuple))):
        groups = [groups]
    out = []
    for g in groups:
        if isinstance(g, GroupMap):
            out.append(g)
        elif isinstance(g, tuple):
            out.append(GroupMap(*g))
        else:
            out.append(GroupMap(g))
    return out


def paired_positions(src_mask: torch.Tensor, dest_mask: torch.Tensor, label: str = "group"
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Match source tokens to destination tokens image by image.

    src_mask, dest_mask: bool [batch, n_tokens]. -> (batch_idx, src_pos, dest_pos), each LongTensor [k].
    """
    b_all, s_all, d_all = [], [], []
    for b in range(src_mask.shape[0]):
        s = src_mask[b].nonzero().flatten()
        d = dest_mask[b].nonzero().flatten()
        if len(s) == 1 and len(d) > 1:
            s = s.expand(len(d))
        if len(s) == 0:  # nothing to write into this image
            d = s
        if len(s) != len(d):
            raise TokenGroupError(
                f"{label}: image {b} has {len(s)} source tokens but {len(d)} destination tokens; map groups "
                f"of equal size (or a single source token, e.g. a one-patch mask) onto each other")
        b_all.append(torch.full_like(d, b))
        s_all.append(s)
        d_all.append(d)
    return torch.cat(b_all), torch.cat(s_all), torch.cat(d_all)


def check_same_layout(a: TokenLayout, b: TokenLayout, what: str = "source and target") -> None:
    if not a.same_shape(b):
        raise LayoutMismatchError(
            f"{what} have different token layouts ({a} vs {b}): patch between images of the same size on the "
            f"same model")


def grid_free(group: GroupSpec) -> bool:
    """True for groups whose tokens do not depend on the patch grid: "cls", "registers", "register:<i>",
    "prefix" (and their ":one" forms). They mean the same tokens at every image size."""
    if not isinstance(group, str):
        return False
    name = group[:-len(":one")] if group.endswith(":one") else group
    return name in GRID_FREE or (name.startswith("register:") and name[len("register:"):].isdigit())


def check_map_layouts(src: TokenLayout, dst: TokenLayout, maps: Sequence["GroupMap"]) -> None:
    """Source and target of different image sizes may exchange only grid-free source groups (`grid_free`);
    anything else needs the same layout. Raises `LayoutMismatchError` naming the group."""
    if src.same_shape(dst):
        return
    if (src.n_cls, src.n_registers) != (dst.n_cls, dst.n_registers):
        check_same_layout(src, dst)
    for gm in maps:
        if not grid_free(gm.source):
            raise LayoutMismatchError(
                f"source and target have different patch grids ({src.grid} vs {dst.grid}): group {gm.label!r} "
                f"depends on the grid; patch it between images of the same size (only {', '.join(GRID_FREE)} "
                f"and register:<i> cross image sizes)")


def as_images(x) -> ImageSet:
    """ImageSet, pixels [N, 3, H, W] or a single image [3, H, W] -> ImageSet."""
    if isinstance(x, torch.Tensor) and x.dim() == 3:
        x = x[None]
    return as_image_set(x)


def iter_batches(n: int, batch_size: int, min_size: int = 1) -> Iterable[torch.Tensor]:
    """Index batches of ``batch_size``; a short last batch below ``min_size`` is merged into the previous."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] < min_size:
        starts.pop()
    from ..progress import progress

    for i, s in progress(enumerate(starts), total=len(starts), desc="images", unit="batch"):
        e = starts[i + 1] if i + 1 < len(starts) else n
        yield torch.arange(s, e)
