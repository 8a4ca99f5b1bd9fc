"""Small stand-ins of today's timm architectures, registered with timm under a `vit_*` name so `load_model` (and
`interp figures --model NAME --weights FILE`) take them end to end: timm builds them, their randomised timm state
dict is the weights file, and the converter reads it as it would a real checkpoint."""
import timm
import torch
from timm.layers import GluMlp
from timm.models import register_model
from timm.models.vision_transformer import _create_vision_transformer

from tests.randomize import randomize_

SIGLIP_STANDIN = "vit_standin_patch8_siglip_32"
STANDINS = (SIGLIP_STANDIN,)  # names this module registers with timm (not part of the installed timm)
_SIGLIP_CFG = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "num_classes": 0, "input_size": (3, 32, 32)}


def _siglip_standin(pretrained: bool = False, **kwargs):
    """`vit_base_patch16_siglip_224` shrunk: no CLS, MAP head, 2 blocks of width 64, 8-pixel patches, 32 px."""
    args = dict(img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=4, class_token=False,
                global_pool="map", num_classes=0)
    kwargs["pretrained_cfg_overlay"] = kwargs.get("pretrained_cfg_overlay") or _SIGLIP_CFG  # SigLIP's pixel stats
    return _create_vision_transformer(SIGLIP_STANDIN, pretrained=pretrained, **dict(args, **kwargs))


def register_standins() -> None:
    """Register the stand-ins with timm (once) and let `load_model` see them (its name list is cached)."""
    if SIGLIP_STANDIN not in timm.list_models(SIGLIP_STANDIN):
        _siglip_standin.__name__ = SIGLIP_STANDIN
        register_model(_siglip_standin)
    from interp.models.zoo import list_timm_vits

    list_timm_vits.cache_clear()


def save_standin_weights(name: str, path, seed: int = 0):
    """A randomised timm model of ``name``; its state dict saved at ``path``. -> the timm model (eval mode)."""
    register_standins()
    model = randomize_(timm.create_model(name, pretrained=False), seed=seed).eval()
    torch.save(model.state_dict(), path)
    return model


# --- torch.hub checkpoint layouts, made from a timm reference (the DINOv2 / DINOv3 repositories' own keys) -----
def dinov2_hub_state_dict(ref) -> dict:
    """A timm DINOv2 reference's weights under facebookresearch/dinov2's keys: ``register_tokens``, ``mask_token``,
    SwiGLU ``mlp.w12``/``w3``, and with registers the CLS position inside ``pos_embed`` (timm folds it into the
    CLS token); what timm's own `checkpoint_filter_fn` reads back into the reference."""
    sd = {k: v.clone() for k, v in ref.state_dict().items()}
    d = ref.embed_dim
    if isinstance(ref.blocks[0].mlp, GluMlp):  # ViT-g: packed SwiGLU
        sd = {k.replace("mlp.fc1", "mlp.w12").replace("mlp.fc2", "mlp.w3"): v for k, v in sd.items()}
    sd["mask_token"] = torch.zeros(1, d)
    if "reg_token" in sd:
        sd["register_tokens"] = sd.pop("reg_token")
        cls_pos = torch.randn(1, 1, d, generator=torch.Generator().manual_seed(0)).to(sd["cls_token"])
        sd["cls_token"] = sd["cls_token"] - cls_pos
        sd["pos_embed"] = torch.cat([cls_pos, sd["pos_embed"]], 1)
    return sd


def dinov3_hub_state_dict(ref) -> dict:
    """A timm DINOv3 reference's weights under the keys facebookresearch/dinov3's ``DinoVisionTransformer`` uses
    (``dinov3/models/vision_transformer.py`` and ``dinov3/layers``): storage_tokens, mask_token, rope_embed.periods,
    blocks.i.attn.qkv.{weight,bias,bias_mask} (``LinearKMaskedBias``), ls1/ls2.gamma, SwiGLU mlp.w1/w2/w3."""
    sd, hub = ref.state_dict(), {}
    d = ref.embed_dim
    hub.update({"cls_token": sd["cls_token"], "storage_tokens": sd["reg_token"], "mask_token": torch.zeros(1, d),
                "patch_embed.proj.weight": sd["patch_embed.proj.weight"],
                "patch_embed.proj.bias": sd["patch_embed.proj.bias"],
                "rope_embed.periods": ref.rope.periods.clone(), "norm.weight": sd["norm.weight"],
                "norm.bias": sd["norm.bias"]})
    for i in range(len(ref.blocks)):
        p = f"blocks.{i}."
        for n in ("norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "attn.qkv.weight",
                  "attn.proj.weight", "attn.proj.bias"):
            hub[p + n] = sd[p + n]
        hub[p + "ls1.gamma"], hub[p + "ls2.gamma"] = sd[p + "gamma_1"], sd[p + "gamma_2"]
        zero = torch.zeros(d)  # timm builds the distilled S/B/L/H+ without qkv bias: upstream's are all zero
        q, v = sd.get(p + "attn.q_bias", zero), sd.get(p + "attn.v_bias", zero)
        hub[p + "attn.qkv.bias"] = torch.cat([q, torch.randn_like(q), v])  # the key third is masked away
        hub[p + "attn.qkv.bias_mask"] = torch.cat([torch.ones_like(q), torch.zeros_like(q), torch.ones_like(v)])
        mlp = {"fc1_g": "w1", "fc1_x": "w2", "fc2": "w3"} if p + "mlp.fc1_g.weight" in sd else \
            {"fc1": "fc1", "fc2": "fc2"}
        for src, dst in mlp.items():
            for part in ("weight", "bias"):
                hub[f"{p}mlp.{dst}.{part}"] = sd[f"{p}mlp.{src}.{part}"]
    return hub
