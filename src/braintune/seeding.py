"""One way to seed every random generator a training loop touches (torch, numpy, random)."""

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
