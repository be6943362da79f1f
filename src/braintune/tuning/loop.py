"""Epoch and validation steps of brain-tuning.

Reproducibility: the order of the training windows in epoch e is a permutation drawn from
numpy.random.default_rng([seed, e]); torch, numpy and python RNGs (dropout, time masking,
layer drop) are reseeded from (seed, epoch, rank) at the start of every epoch. So a run
resumed from the checkpoint of epoch e continues exactly as the uninterrupted run.
"""

from __future__ import annotations

import numpy as np
import torch

from braintune.errors import TrainingDiverged
from braintune.progress import tqdm
from braintune.training import reseed
from braintune.tuning import distributed
from braintune.tuning.cache import CNNFeatures
from braintune.tuning.distributed import Process
from braintune.tuning.model import BrainTuner
from braintune.tuning.targets import BlockTargets, target_batch
from braintune.tuning.settings import TuneSettings


def _autocast(process: Process, settings: TuneSettings):
    return torch.autocast(process.device.type, dtype=torch.bfloat16, enabled=settings.bf16)


def pair_losses(prediction: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Each pair's squared error averaged over the targets it has. (pairs, targets) x 2, mask
    (pairs, targets) bool or None (all) -> (pairs,). A target a pair lacks is multiplied by 0, so
    its prediction receives exactly no gradient from that pair."""
    squared = (prediction - targets) ** 2
    if mask is None:
        return squared.mean(dim=1)
    weights = mask.to(squared.dtype)
    return (squared * weights).sum(dim=1) / weights.sum(dim=1)


def train_epoch(net: BrainTuner, optimizer: torch.optim.Optimizer, scheduler, features: CNNFeatures,
                targets: np.ndarray | BlockTargets, settings: TuneSettings, process: Process, epoch: int) -> float:
    """One pass over the training pairs in the epoch's seeded order, `batch_size` per optimiser step.

    targets: (pairs, targets) z-scored responses, or pooled participants' (BlockTargets: a pair
    has its own participant's targets only). Process r of N takes elements r, r + N, ... of each batch, in
    micro-batches; each pair's squared error, averaged over its targets (pair_losses), is
    divided by the global batch's length, so after the gradients are summed over micro-batches
    and processes every process holds the batch's mean-loss gradient and takes the same step.
    Returns the epoch's mean per-pair MSE (over all processes).
    """
    reseed(settings.seed, epoch, process.rank)
    net.train()
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    order = np.random.default_rng([settings.seed, epoch]).permutation(len(targets))
    loss_sum = torch.zeros((), dtype=torch.float64, device=process.device)  # Σ per-pair MSE
    batches = range(0, len(order), settings.batch_size)
    for b in tqdm(batches, desc=f"epoch {epoch}", unit="step", disable=not process.is_main, leave=False):
        batch = order[b : b + settings.batch_size]
        mine = batch[process.rank :: process.world_size]
        for m in range(0, len(mine), settings.micro_batch_size):
            idx = mine[m : m + settings.micro_batch_size]
            x = features(idx)
            with _autocast(process, settings):
                prediction = net(x)
            y, mask = (None if a is None else torch.from_numpy(a).to(process.device) for a in target_batch(targets, idx))
            y = y.to(x.dtype)
            per_pair = pair_losses(prediction.to(y.dtype), y, mask)
            (per_pair.sum() / len(batch)).backward()
            loss_sum += per_pair.detach().sum()
        distributed.sum_gradients(process, parameters)
        _check_finite(loss_sum, parameters, optimizer, epoch, b // settings.batch_size + 1, len(batches))
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    process.sum_(loss_sum)
    return float(loss_sum) / len(order)


def _check_finite(loss_sum: torch.Tensor, parameters, optimizer, epoch: int, step: int, steps: int) -> None:
    """A TrainingDiverged error, before the optimiser step, where the loss so far or a gradient is not
    finite: no non-finite weight is ever stepped into, saved or exported (the last checkpoint stays)."""
    if bool(torch.isfinite(loss_sum)) and all(bool(torch.isfinite(p.grad).all()) for p in parameters):
        return
    what = "training loss" if not bool(torch.isfinite(loss_sum)) else "gradient"
    lrs = ", ".join(f"{name} lr {group['lr']:.3g}" for name, group in zip(("backbone", "head"), optimizer.param_groups))
    raise TrainingDiverged(f"brain-tuning diverged at epoch {epoch}, step {step} of {steps}: the {what} is not finite "
                           f"({lrs}); the checkpoint of epoch {epoch - 1} is kept and nothing is exported; lower the "
                           "learning rates")


def validate(net: BrainTuner, features: CNNFeatures, targets: np.ndarray | BlockTargets, settings: TuneSettings,
             process: Process) -> tuple[float, float]:
    """(MSE over pairs and voxels, mean over voxels of Pearson r) on the validation pairs.

    targets: (pairs, voxels), or pooled participants' (BlockTargets: a target a pair lacks counts
    nowhere). Each process predicts every N-th pair; the sums behind both
    numbers are accumulated in float64 and summed over processes.
    """
    net.eval()
    # n, Σy, Σp, Σy², Σp², Σyp, Σ(y-p)² per voxel, on the device (nccl reduces only device tensors)
    stats = torch.zeros(7, targets.shape[1], dtype=torch.float64, device=process.device)
    mine = np.arange(process.rank, len(targets), process.world_size)
    with torch.no_grad(), _autocast(process, settings):
        for i in range(0, len(mine), settings.micro_batch_size):
            idx = mine[i : i + settings.micro_batch_size]
            p = net(features(idx)).double()
            y, mask = target_batch(targets, idx)
            y = torch.from_numpy(y).to(process.device, torch.float64)
            w = torch.ones_like(y) if mask is None else torch.from_numpy(mask).to(process.device, torch.float64)
            stats += (torch.stack([torch.ones_like(y), y, p, y * y, p * p, y * p, (y - p) ** 2]) * w).sum(dim=1)
    process.sum_(stats)
    n, sy, sp, syy, spp, syp, sse = stats
    cov = n * syp - sy * sp
    var = (n * syy - sy**2) * (n * spp - sp**2)
    r = torch.where(var > 0, cov / var.clamp_min(1e-300).sqrt(), torch.zeros_like(cov))
    return float(sse.sum() / n.sum()), float(r.mean())
