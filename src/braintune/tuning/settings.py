"""Settings of a brain-tuning run; defaults are the papers' public settings. (LoRA's own
settings live here too, beside TuneSettings, so that loading a config imports no torch.)"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from braintune.errors import ConfigError
from braintune.tuning.variants import check_variant

PAPER_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")  # the attention projections (Moussa & Toneva 2025)
ADAPTERS = ("none", "lora")  # none: the transformer trains whole; lora: adapters only (braintune.tuning.lora)
# model families LoRA cannot adapt, and why (braintune.tuning.lora refuses them too)
LORA_REFUSED = {"wavlm": "transformers' WavLMAttention passes the projections' weights to F.multi_head_attention_forward, "
                         "so adapters would never run (huggingface/transformers PR #48773)"}
OPTIMIZERS = ("adam", "adamw")
HEADS = ("per_participant", "common")  # multi variant: a head per participant, or one on a common space  # torch.optim.Adam (the ICLR paper's) or AdamW (the LoRA paper's)


@dataclass(frozen=True)
class LoraSettings:
    """LoRA of the multi-participant brain-tuning paper (the study's `tune.lora` section):
    rank 8, alpha 32 (scale alpha / r = 4), dropout 0.1, on q/k/v/out_proj of every block."""

    r: int = field(default=8, metadata={"help": "rank of each adapter (lora_A: r x in, lora_B: out x r)"})
    alpha: float = field(default=32.0, metadata={"help": "the adapters' output is scaled by alpha / r"})
    dropout: float = field(default=0.1, metadata={"help": "dropout on the adapters' input while training"})
    targets: list[str] = field(default_factory=lambda: list(PAPER_TARGETS), metadata={
        "help": "linear layers of each transformer block to adapt, by the end of their name "
                "(default: the attention projections)"})

    def __post_init__(self):
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 1:
            raise ConfigError(f"r: must be a positive whole number, got {self.r!r}")
        if not self.alpha > 0:
            raise ConfigError(f"alpha: must be > 0, got {self.alpha!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout: must lie in [0, 1), got {self.dropout!r}")
        if not self.targets or not all(isinstance(t, str) and t.strip(".") for t in self.targets):
            raise ConfigError(f"targets: one or more layer names such as 'q_proj', got {list(self.targets)!r}")


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
    KEYED_WHEN_SET = ("variant", "participants", "adapter", "optimizer", "head")  # later than the first cache
    # keys; at their defaults they reproduce the earlier runs

    variant: str = field(default="single", metadata={
        "help": "what a tune cell trains (braintune.tuning.variants): 'single', one model per participant on its "
                "own responses (Moussa et al., ICLR 2025); 'multi', one model for all tuning participants, a head "
                "per participant (Moussa & Toneva, NeurIPS 2025)"})
    participants: list[str] | None = field(default=None, metadata={
        "help": "who tunes (a study's tune cells); default: the study's participants"})
    head: str = field(default="per_participant", metadata={
        "help": "multi variant: 'per_participant' (a linear head per participant on its own voxels; any dataset) or "
                "'common' (the participants' responses brought onto fsaverage's late-language vertices by the "
                "authors' projection, align.atlas and align.affines; one shared head)", "choices": HEADS})
    adapter: str = field(default="none", metadata={
        "help": "'none' trains the transformer whole; 'lora' trains low-rank adapters on it (tune.lora, through "
                "peft) and exports the merged model", "choices": ADAPTERS})
    lora: LoraSettings = field(default_factory=LoraSettings, metadata={"help": "the adapters (with adapter: lora)"})
    optimizer: str = field(default="adam", metadata={
        "help": "'adam' (Moussa et al., ICLR 2025) or 'adamw' (weight decay 0.01; the LoRA paper's)",
        "choices": OPTIMIZERS})

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
        if self.adapter not in ADAPTERS:
            raise ConfigError(f"adapter: one of {ADAPTERS}, got {self.adapter!r}")
        if self.head not in HEADS:
            raise ConfigError(f"head: one of {HEADS}, got {self.head!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer: one of {OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("window_seconds", "backbone_lr", "head_lr", "head_lr_decay", "head_lr_floor", "ceiling_threshold"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name}: must be a finite number, got {getattr(self, name)!r}")
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

    def neutral_fields(self) -> set[str]:
        """Fields that these settings make irrelevant to the result (the adapters' without adapters)."""
        return {"lora"} if self.adapter == "none" else set()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
