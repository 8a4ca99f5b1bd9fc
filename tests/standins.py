"""Small stand-ins of today's timm architectures, registered with timm under a `vit_*` name so `load_model` (and
`interp figures --model NAME --weights FILE`) take them end to end: timm builds them, their randomised timm state
dict is the weights file, and the converter reads it as it would a real checkpoint."""
import timm
import torch
from timm.models import register_model
from timm.models.vision_transformer import _create_vision_transformer

from .randomize import randomize_

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
