"""Optimiser and learning-rate schedules of brain-tuning (lrs as multipliers of the base lr per optimiser step)."""

from __future__ import annotations

import torch

from braintune.training import warmup_then_linear_decay


def backbone_lr_factor(step: int, steps_per_epoch: int, warmup_epochs: int, epochs: int) -> float:
    """Linear warm-up over `warmup_epochs`, then linear decay to 0 at the last step (per optimiser step)."""
    return warmup_then_linear_decay(step, warmup_epochs * steps_per_epoch, epochs * steps_per_epoch)


def head_lr_factor(step: int, steps_per_epoch: int, decay: float, floor: float) -> float:
    """decay ** epoch, never below `floor` (a fraction of the base lr)."""
    return max(decay ** (step // steps_per_epoch), floor)


def make_scheduler(optimizer: torch.optim.Optimizer, settings, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR over the optimiser's two groups: [backbone, head]."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        [
            lambda step: backbone_lr_factor(step, steps_per_epoch, settings.warmup_epochs, settings.epochs),
            lambda step: head_lr_factor(step, steps_per_epoch, settings.head_lr_decay, settings.head_lr_floor),
        ],
    )


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}  # TuneSettings.optimizer -> class


def make_optimizer(net, settings) -> torch.optim.Optimizer:
    """Adam (or AdamW, settings.optimizer) over two groups: [trainable backbone parameters (the
    adapters alone with LoRA) at backbone_lr, head at head_lr]."""
    backbone = [p for p in net.backbone.parameters() if p.requires_grad]
    return OPTIMIZERS[settings.optimizer](
        [{"params": backbone, "lr": settings.backbone_lr}, {"params": list(net.head.parameters()), "lr": settings.head_lr}]
    )
