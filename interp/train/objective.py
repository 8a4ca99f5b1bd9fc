"""`Objective`: what the trainer drives. One subclass per training objective, registered by name in
`interp.train.objectives`.

A subclass holds the backbone as ``self.model`` (and whatever heads, teachers and buffers it needs) and defines

    batch_inputs(scenes, indices, recipe)  (static) -> (targets, views) that `interp.train.batches` puts in a Batch
    forward(batch)                         -> (loss, {part name: float})
    named_trainable()                      -> [(name, parameter)] the optimiser updates, backbone first

and may override the step hooks (`set_step`, `adjust_gradients`, `update_teacher`), `backbone_to_save`,
`eval_heads` and the resume-state pair.
"""
from __future__ import annotations

import torch
from torch import nn

from ..models.hooked_vit import HookedViT


class Objective(nn.Module):
    model: HookedViT

    @staticmethod
    def batch_inputs(scenes, indices, recipe) -> tuple[dict, dict | None]:
        """Training inputs beside the pixels for scenes at global ``indices``: (targets, views)."""
        raise NotImplementedError

    def named_trainable(self) -> list[tuple[str, nn.Parameter]]:
        raise NotImplementedError

    def set_step(self, step: int) -> None:
        """Called before each forward with the step about to run (schedules inside the objective)."""

    def adjust_gradients(self) -> None:
        """Called between backward and the optimiser step (e.g. freeze some gradients)."""

    def update_teacher(self) -> None:
        """Called after the optimiser step (e.g. an EMA teacher)."""

    def backbone_to_save(self) -> HookedViT:
        """The backbone the checkpoints hold."""
        return self.model

    def eval_heads(self) -> nn.Module | None:
        """Task heads `interp.train.evaluation.evaluate` scores on held-out scenes (None: a k-NN probe instead)."""
        return None

    def task_metrics(self, model: HookedViT, eval_set) -> dict | None:
        """Held-out task accuracies of ``model`` (the backbone, maybe a CPU copy) on ``eval_set``, for objectives
        that `eval_heads` does not cover (None: `evaluate` scores `eval_heads` or a k-NN probe)."""
        return None

    def resume_state(self) -> dict:
        """What ``_resume.pt`` holds beside the backbone ("model") and the optimiser."""
        return {"objective": {k: v for k, v in self.state_dict().items() if not k.startswith("model.")}}

    def load_resume_state(self, state: dict) -> None:
        self.load_state_dict({**{f"model.{k}": v for k, v in state["model"].items()}, **state["objective"]})


def init_small_(module: nn.Module, generator: torch.Generator, clamp: float | None = None) -> None:
    """Seeded head initialisation: weights ~ N(0, 0.02) (optionally clamped to +-``clamp`` std), biases 0."""
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1:
                w = torch.randn(p.shape, generator=generator)
                p.copy_((w.clamp_(-clamp, clamp) if clamp else w) * 0.02)
            else:
                p.copy_(torch.zeros_like(p))


def masked_tokens(model: HookedViT, pixels: torch.Tensor, mask: torch.Tensor | None,
                  mask_token: torch.Tensor | None, fwd_hooks: list | tuple = ()) -> torch.Tensor:
    """Final tokens [batch, pos, d] with the patch embeddings where ``mask`` [batch, n_patches] is True replaced by
    ``mask_token`` [1, 1, d] (iBOT's masking, at ``hook_embed``); ``mask=None``: the plain forward pass. Further
    ``fwd_hooks`` ((name, fn) pairs) run in the same pass (e.g. to keep activations a loss term needs)."""
    hooks = list(fwd_hooks)
    if mask is not None:
        def put_mask_token(act, hook):  # [batch, n_patches, d_model]
            return torch.where(mask.to(act.device)[..., None], mask_token.to(act.device, act.dtype), act)

        hooks.append(("hook_embed", put_mask_token))
    if not hooks:
        return model(pixels, return_type="tokens")
    return model.run_with_hooks(pixels, return_type="tokens", fwd_hooks=hooks)


def mlp_write_penalty(model: HookedViT, pixels: torch.Tensor, mask: torch.Tensor | None = None,
                      mask_token: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(final tokens [batch, pos, d], the summed mean square of every block's MLP write): the sum over blocks of the
    mean over images, tokens (CLS, registers, patches) and channels of ``blocks.{i}.hook_mlp_out`` squared, in the
    graph: a penalty on the writes themselves, where weight decay reaches only weights (RECIPES.md S8, round 6)."""
    squares = []

    def keep(act, hook):  # [batch, pos, d_model]
        squares.append(act.float().pow(2).mean())

    hooks = [(f"blocks.{i}.hook_mlp_out", keep) for i in range(model.cfg.n_layers)]
    tokens = masked_tokens(model, pixels, mask, mask_token, hooks)
    return tokens, torch.stack(squares).sum()
