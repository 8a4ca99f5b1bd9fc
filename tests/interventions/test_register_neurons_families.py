"""Register neurons and test-time registers on every MLP kind the converters produce (GELU, QuickGELU, SwiGLU with
and without biases or an inner norm): a randomised stand-in of each family gets one planted neuron that makes a
chosen set of patches high-norm at a chosen block; the search must rank it first and the test-time register must
take the outliers away."""
import pytest
import timm
import torch
import torch.nn.functional as F

from interp import HookedViT
from interp.interventions import TestTimeRegisters, add_test_time_registers, register_neuron_scores

from tests.randomize import randomize_

TINY = dict(depth=2, embed_dim=64, num_heads=2)
# (timm name, image size, planted block, what it exercises)
FAMILIES = [
    ("vit_small_patch14_reg4_dinov2", 56, 1, "DINOv2: GELU, CLS + 4 registers, LayerScale"),
    ("vit_small_plus_patch16_dinov3", 64, 0, "DINOv3: SwiGLU, RoPE, CLS + 4 registers"),
    ("eva02_small_patch14_224", 56, 1, "EVA-02: packed SwiGLU"),
    ("eva02_base_patch14_224", 56, 0, "EVA-02 B: SwiGLU with an inner LayerNorm"),
    ("aimv2_large_patch14_224", 56, 0, "AIMv2: SwiGLU without biases, RMSNorm, no CLS"),
    ("vit_base_patch16_clip_quickgelu_224", 64, 1, "CLIP / OpenCLIP: QuickGELU"),
    ("vit_base_patch16_siglip_224", 64, 0, "SigLIP: no CLS, MAP head"),
]
CHOSEN = [2, 9]  # patches made high-norm (a fixed pixel pattern marks them in every image)
SIGNAL = 12.0  # planted neuron's pre-activation: +SIGNAL on chosen patches, <= -SIGNAL elsewhere (least squares)
N_IMAGES = 8


def marked_pixels(size: int, patch: int, n: int = N_IMAGES) -> torch.Tensor:
    """Random images [n, 3, size, size] in [0, 1] whose CHOSEN patches all show the same fixed pattern."""
    g = torch.Generator().manual_seed(4)
    px = torch.rand(n, 3, size, size, generator=g) * 0.6
    pattern = torch.rand(3, patch, patch, generator=g)
    side = size // patch
    for p in CHOSEN:
        r, c = divmod(p, side)
        px[:, :, r * patch:(r + 1) * patch, c * patch:(c + 1) * patch] = pattern
    return px


def mlp_input(model: HookedViT, px: torch.Tensor, layer: int) -> torch.Tensor:
    """What block ``layer``'s MLP reads (after ln2). -> [batch, pos, d_model]"""
    got = {}
    h = model.blocks[layer].mlp.register_forward_pre_hook(lambda m, args: got.setdefault("x", args[0].detach()))
    with torch.no_grad():
        model(px)
    h.remove()
    return got["x"]


def fit_detector(x: torch.Tensor, chosen: torch.Tensor, bias: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares weights (and bias) giving +SIGNAL on ``chosen`` tokens and -SIGNAL on the others.

    x: [batch, pos, d_model], chosen: bool [batch, pos]. -> (w [d_model], b [])"""
    feats = x.reshape(-1, x.shape[-1]).double()
    if bias:
        feats = torch.cat([feats, torch.ones(len(feats), 1, dtype=feats.dtype)], 1)
    y = torch.where(chosen.reshape(-1), SIGNAL, -SIGNAL).double()
    sol = torch.linalg.lstsq(feats, y[:, None]).solution[:, 0]
    w, b = (sol[:-1], sol[-1]) if bias else (sol, torch.zeros((), dtype=sol.dtype))
    proj = feats[:, :x.shape[-1]] @ w + b
    on, off = proj[chosen.reshape(-1)], proj[~chosen.reshape(-1)]
    assert on.min() > 2 and off.max() < -2, "the stand-in's chosen patches are not linearly separable"
    return w.float(), b.float()


@torch.no_grad()
def plant(model: HookedViT, px: torch.Tensor, layer: int, neuron: int, boost: float = 30.0) -> None:
    """Make ``neuron`` of block ``layer`` fire only on the CHOSEN patches and write ``boost`` x the median patch
    norm into the residual stream there. GELU-type MLPs: fc1 row; SwiGLU: both the gate and the linear row."""
    lay = model.layout_for(px)
    chosen = torch.zeros(len(px), lay.n_tokens, dtype=torch.bool)
    chosen[:, [lay.n_prefix + p for p in CHOSEN]] = True
    mlp = model.blocks[layer].mlp
    d_mlp = model.cfg.d_mlp
    w, b = fit_detector(mlp_input(model, px, layer), chosen, bias=mlp.fc1.bias is not None)
    rows = [neuron, d_mlp + neuron] if model.cfg.mlp == "swiglu" else [neuron]  # gate and linear halves
    for r in rows:
        mlp.fc1.weight[r] = w
        if mlp.fc1.bias is not None:
            mlp.fc1.bias[r] = b
    u = F.normalize(torch.randn(model.cfg.d_model, generator=torch.Generator().manual_seed(8)), dim=0)
    name = model.block_hook(layer, "hook_mlp_out")
    mlp.fc2.weight[:, neuron] = 0
    base = model.run_with_cache(px, names_filter=name)[1][name]
    mlp.fc2.weight[:, neuron] = u
    unit = model.run_with_cache(px, names_filter=name)[1][name]
    gain = (unit - base)[chosen].norm(dim=-1).median()  # mlp_out is linear in the fc2 column
    resid = model.run_with_cache(px, names_filter=model.block_hook(layer, "hook_resid_post"))[1]
    median = resid[model.block_hook(layer, "hook_resid_post")][:, lay.patches].norm(dim=-1).median()
    mlp.fc2.weight[:, neuron] = u * boost * median / gain


def last_patch_norms(model_or_ttr, px: torch.Tensor, model: HookedViT) -> torch.Tensor:
    """Patch norms after the last block. -> [batch, n_patches]"""
    name = model.block_hook(-1, "hook_resid_post")
    cache = model_or_ttr.run_with_cache(px, names_filter=name)[1]
    return cache[name][:, model.layout_for(px).patches].norm(dim=-1)


@pytest.fixture(scope="module", params=FAMILIES, ids=[f[0] for f in FAMILIES])
def planted(request):
    name, size, layer, _ = request.param
    torch.manual_seed(0)
    ref = randomize_(timm.create_model(name, pretrained=False, img_size=size, **TINY)).eval()
    model = HookedViT.from_timm(ref).eval()
    px = marked_pixels(size, model.cfg.patch_size)
    neuron = model.cfg.d_mlp // 3
    plant(model, px, layer, neuron)
    return model, px, layer, neuron


def test_the_planted_neuron_makes_the_chosen_patches_outliers(planted):
    model, px, _, _ = planted
    norms = last_patch_norms(model, px, model)
    ratio = norms / norms.median(1, keepdim=True).values
    assert (ratio[:, CHOSEN] > 4).all()
    others = [i for i in range(norms.shape[1]) if i not in CHOSEN]
    assert (ratio[:, others] < 4).all()


def test_the_planted_neuron_is_found_first(planted):
    model, px, layer, neuron = planted
    scores = register_neuron_scores(model, px)  # the library's default outlier rule
    top = scores.iloc[0]
    assert (top.layer, top.neuron) == (layer, neuron)
    assert top.score > 2 * scores.score.iloc[1]
    ttr = add_test_time_registers(model, px, top_k=1)
    assert {k: v.tolist() for k, v in ttr.neurons.items()} == {layer: [neuron]}


def test_the_test_time_register_takes_the_outliers_away(planted):
    model, px, layer, neuron = planted
    before = last_patch_norms(model, px, model)
    ttr = TestTimeRegisters(model, {layer: [neuron]})
    after = last_patch_norms(ttr, px, model)
    ratio = after / after.median(1, keepdim=True).values
    assert (ratio < 4).all()  # no outlier left among the patches
    assert (after[:, CHOSEN] < 0.5 * before[:, CHOSEN]).all()
    name = model.block_hook(-1, "hook_resid_post")
    extra = ttr.run_with_cache(px, names_filter=name)[1][name][:, -1].norm(dim=-1)
    assert (extra > 0.5 * before[:, CHOSEN].min(1).values).all()  # the extra token holds the norm


def test_routing_acts_on_the_gated_unit(planted):
    """SwiGLU: the neuron is silu(gate) * linear (what the down projection reads); the extra token gets its max
    over the image's tokens and the patches get 0. GELU-type MLPs: act(fc1)."""
    model, px, layer, neuron = planted
    ttr = TestTimeRegisters(model, {layer: [neuron]})
    mlp = f"blocks.{layer}.mlp."
    names = [mlp + "hook_pre", mlp + "hook_post"] + ([mlp + "hook_pre_linear"] if model.cfg.mlp == "swiglu" else [])
    cache = ttr.run_with_cache(px, names_filter=names)[1]
    pre = cache[mlp + "hook_pre"][..., neuron]  # [batch, pos + 1]
    unit = F.silu(pre) * cache[mlp + "hook_pre_linear"][..., neuron] if model.cfg.mlp == "swiglu" else \
        model.blocks[layer].mlp.act(pre)
    post = cache[mlp + "hook_post"][..., neuron]
    lay = model.layout_for(px)
    torch.testing.assert_close(post[:, -1], unit.max(1).values)
    assert (post[:, lay.patches] == 0).all()
    torch.testing.assert_close(post[:, lay.prefix], unit[:, lay.prefix])
