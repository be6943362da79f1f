"""Settings of a brain-tuning run; defaults are the papers' public settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from braintune.errors import ConfigError

CNN_CACHE_MODES = ("off", "disk")


@dataclass(frozen=True)
class TuneSettings:
    """How to brain-tune one model on one participant.

    window_seconds: audio before each response row that the model hears (covers the
        haemodynamic delay; the public code concatenates the 5 TRs t-4..t, about 10 s).
    ceiling_threshold: voxels whose noise ceiling (CCmax from the test story's repeats)
        exceeds this are the targets.
    validation_story: held out to validate every epoch, never trained on; None takes
        Dataset.split(participant).validation ("stagefright").
    epochs, batch_size: optimiser steps see `batch_size` windows (one global batch, summed
        over micro-batches and processes), `epochs` passes over the training windows.
    micro_batch_size: windows per forward/backward; gradients accumulate until a global
        batch is complete, so any batch size fits any memory.
    backbone_lr: Adam lr of the transformer; linear warm-up over `warmup_epochs`, then
        linear decay to 0 at the end of training (per optimiser step).
    head_lr: Adam lr of the linear head; times `head_lr_decay` per epoch, never below
        `head_lr_floor` x head_lr (the floor is a fraction of the base lr, not an lr).
    cnn_cache: "disk" stores the frozen CNN's output of every window once (exact: one
        entry per window, since group norm makes it depend on the whole window); "off"
        recomputes it every step.
    bf16: bfloat16 autocast for forward and backward (weights and optimiser stay float32).
    gradient_checkpointing: recompute transformer activations in backward to save memory.
    """

    window_seconds: float = 10.0
    ceiling_threshold: float = 0.4
    validation_story: str | None = None
    epochs: int = 30
    batch_size: int = 128
    micro_batch_size: int = 8
    backbone_lr: float = 5e-5
    warmup_epochs: int = 5
    head_lr: float = 1e-4
    head_lr_decay: float = 0.8
    head_lr_floor: float = 0.1
    seed: int = 0
    cnn_cache: str = "disk"
    bf16: bool = False
    gradient_checkpointing: bool = False
    device: str | None = None

    def __post_init__(self):
        positive = ("window_seconds", "epochs", "batch_size", "micro_batch_size", "backbone_lr", "head_lr")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"tuning setting {name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.ceiling_threshold < 1:
            raise ConfigError(f"tuning setting ceiling_threshold must lie in [0, 1), got {self.ceiling_threshold!r}")
        if self.warmup_epochs < 0:
            raise ConfigError(f"tuning setting warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if not 0 < self.head_lr_decay <= 1 or not 0 <= self.head_lr_floor <= 1:
            raise ConfigError("tuning settings head_lr_decay must be in (0, 1] and head_lr_floor in [0, 1]")
        if self.cnn_cache not in CNN_CACHE_MODES:
            raise ConfigError(f"tuning setting cnn_cache must be one of {CNN_CACHE_MODES}, got {self.cnn_cache!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "settings") -> "TuneSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown tuning setting(s) {unknown}; known: {sorted(known)}")
        try:
            return cls(**values)
        except TypeError as exc:  # pragma: no cover - dataclass signature errors
            raise ConfigError(f"{source}: {exc}") from exc

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TuneSettings":
        path = Path(path)
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of tuning settings")
        return cls.from_dict(values.get("settings", values), source=str(path))
