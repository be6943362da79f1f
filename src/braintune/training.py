"""What the two training loops (brain-tuning, pretraining) share: seeding and the lr schedule."""

from __future__ import annotations

import random

import numpy as np
import torch


def reseed(*key: int) -> None:
    """Seed torch, numpy's global generator and Python's random from `key` (e.g. seed, epoch, rank):
    the same key gives the same draws, whatever ran before."""
    state = np.random.SeedSequence(list(key)).generate_state(2)
    torch.manual_seed(int(state[0]))
    np.random.seed(int(state[1]))
    random.seed(int(state[1]))


def warmup_then_linear_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """lr multiplier: linear warm-up from 0 to 1 over `warmup_steps`, then linear decay to 0 at `total_steps`.

    `step` counts optimiser steps already taken (0 before the first); the factor applies to
    step `step + 1`, so the first step has lr base / warm-up steps, never 0.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
