"""Settings of a brain-tuning run; defaults are the papers' public settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from braintune.errors import ConfigError
from braintune.tuning.variants import check_variant


@dataclass(frozen=True)
class TuneSettings:
    """How to brain-tune one model on one participant (the study's `tune:` section, the
    `braintune tune` flags). Defaults are the public settings of Moussa et al. (ICLR 2025).

    An optimiser step sees `batch_size` windows (one global batch, summed over micro-batches
    and processes); the backbone lr warms up linearly over `warmup_epochs`, then decays
    linearly to 0 at the last step; the head lr is multiplied by `head_lr_decay` every epoch,
    never below `head_lr_floor` x head_lr. The frozen CNN's output is exact per window (group
    norm makes it depend on the whole window), so caching it changes nothing.
    """

    RESULT_NEUTRAL = ("micro_batch_size", "cnn_cache", "keep_cnn_cache", "gradient_checkpointing", "device")
    KEYED_WHEN_SET = ("variant", "participants")  # later than the first cache keys; defaults: the earlier runs

    variant: str = field(default="single", metadata={
        "help": "what a tune cell trains (braintune.tuning.variants): 'single', one model per participant on its "
                "own responses (Moussa et al., ICLR 2025)"})
    participants: list[str] | None = field(default=None, metadata={
        "help": "who tunes (a study's tune cells); default: the study's participants"})

    window_seconds: float = field(default=10.0, metadata={
        "help": "seconds of audio ending at each response row (covers the haemodynamic delay; the public code "
                "concatenates the 5 TRs t-4..t)"})
    ceiling_threshold: float = field(default=0.4, metadata={"help": "target voxels: noise ceiling above this"})
    epochs: int = field(default=30, metadata={"help": "passes over the training windows"})
    batch_size: int = field(default=128, metadata={"help": "windows per optimiser step (over all micro-batches and processes)"})
    micro_batch_size: int = field(default=8, metadata={
        "help": "windows per forward/backward (gradients accumulate to batch_size; any batch fits any memory)"})
    backbone_lr: float = field(default=5e-5, metadata={
        "help": "Adam lr of the transformer (linear warm-up, then linear decay); 0 trains the head alone (a control)"})
    warmup_epochs: int = field(default=5, metadata={"help": "epochs of backbone lr warm-up"})
    head_lr: float = field(default=1e-4, metadata={"help": "Adam lr of the linear head"})
    head_lr_decay: float = field(default=0.8, metadata={"help": "head lr factor per epoch"})
    head_lr_floor: float = field(default=0.1, metadata={"help": "the head lr never falls below this fraction of head_lr"})
    seed: int = field(default=0, metadata={"help": "seed of initialisation, data order, dropout, the control's pairing"})
    shuffle_pairs: bool = field(default=False, metadata={
        "help": "the control of Moussa et al. (ICLR 2025): train on the same windows and responses with the "
                "window->response pairing shuffled (one seeded permutation of the training targets across all "
                "training stories); validation keeps the true pairing"})
    cnn_cache: bool = field(default=True, metadata={
        "help": "store the frozen CNN's output per window on disk once instead of recomputing it every step"})
    keep_cnn_cache: bool = field(default=False, metadata={
        "help": "keep the CNN cache when the run finishes (1.02 MB per 10 s window at base size: GBs per "
                "participant); by default a finished run deletes it"})
    bf16: bool = field(default=False, metadata={"help": "bfloat16 autocast (weights and optimiser stay float32)"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "recompute activations in backward to save memory"})
    device: str | None = field(default=None, metadata={"help": "torch device (default: cuda if available, else cpu)"})

    def __post_init__(self):
        check_variant(self.variant)
        if self.participants is not None and (not self.participants or len(set(self.participants)) < len(self.participants)):
            raise ConfigError(f"participants: distinct participant names, at least one, got {self.participants!r}")
        positive = ("window_seconds", "epochs", "batch_size", "micro_batch_size", "head_lr")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name}: must be > 0, got {getattr(self, name)!r}")
        if not self.backbone_lr >= 0:
            raise ConfigError(f"backbone_lr: must be >= 0, got {self.backbone_lr!r}")
        if not 0 <= self.ceiling_threshold < 1:
            raise ConfigError(f"ceiling_threshold: must lie in [0, 1), got {self.ceiling_threshold!r}")
        if self.warmup_epochs < 0:
            raise ConfigError(f"warmup_epochs: must be >= 0, got {self.warmup_epochs}")
        if not 0 < self.head_lr_decay <= 1:
            raise ConfigError(f"head_lr_decay: must lie in (0, 1], got {self.head_lr_decay}")
        if not 0 <= self.head_lr_floor <= 1:
            raise ConfigError(f"head_lr_floor: must lie in [0, 1], got {self.head_lr_floor}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
