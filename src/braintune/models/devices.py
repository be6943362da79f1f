"""The torch devices braintune computes on: cpu, cuda, cuda:N or mps, checked before any work."""

from __future__ import annotations

from braintune.errors import ConfigError

DEVICE_TYPES = ("cpu", "cuda", "mps")  # as the README documents them: cpu, cuda, cuda:N, mps


def check_device(name: str, key: str = "device") -> str:
    """`name` if this machine has that device, else a ConfigError in one line naming `key`."""
    kind, _, index = str(name).partition(":")
    if kind not in DEVICE_TYPES or (index and not index.isdigit()) or (index and kind != "cuda"):
        raise ConfigError(f"{key} {name!r}: one of cpu, cuda, cuda:N, mps; or leave it unset (cuda where present)")
    import torch

    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{key} {name}: no CUDA device here; use cpu or leave it unset")
    if kind == "cuda" and index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"{key} {name}: this machine has {torch.cuda.device_count()} CUDA device(s), numbered from 0")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"{key} {name}: no MPS device here; use cpu or leave it unset")
    return name
