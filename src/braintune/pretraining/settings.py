"""What decides a pretraining run: PretrainSettings, the owner of every setting (default, help, validation)."""

from __future__ import annotations

import dataclasses
import os
import shlex
from dataclasses import dataclass, field

from braintune.data.audio import FRAME_RATE, HOP, RECEPTIVE_FIELD
from braintune.errors import ConfigError

OBJECTIVES = {"hubert": "masked-prediction", "wav2vec2": "contrastive"}  # each family's own
# settings that only one objective reads; the other refuses them at other values than their defaults
ONLY = {
    "masked-prediction": ("clusters", "kmeans_frames", "iterations", "target_layer", "teacher", "unmasked_weight"),
    "contrastive": ("num_negatives", "codevector_groups", "codevectors_per_group", "codevector_dim",
                    "diversity_weight", "gumbel_start", "gumbel_end", "gumbel_decay"),
}


def _setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that decides a pretraining run's result; the defaults are the shipped HuBERT recipe
    (and, with family wav2vec2, the shipped wav2vec2 recipe's objective)."""

    family: str = _setting("hubert", "model family: hubert or wav2vec2")
    objective: str = _setting("", "masked-prediction (HuBERT: k-means targets) or contrastive (wav2vec2: quantised "
                                  "targets among distractors); empty: the family's own")
    hidden_size: int = _setting(128, "transformer width")
    num_layers: int = _setting(6, "transformer blocks")
    num_heads: int = _setting(4, "attention heads")
    intermediate_size: int = _setting(512, "feed-forward width")
    conv_channels: int = _setting(64, "channels of each of the 7 CNN layers (kernels and strides as the base models)")
    corpus_seconds: float = _setting(10800.0, "seconds of stand-in speech to generate (ignored with --corpus)")
    speaker_seconds: float = _setting(40.0, "seconds read by each stand-in speaker")
    corpus_seed: int = _setting(0, "seed of the stand-in corpus")
    validation_fraction: float = _setting(0.05, "share of the recordings held out to validate every epoch")
    clusters: int = _setting(100, "k-means clusters (prediction targets; masked-prediction)")
    kmeans_frames: int = _setting(200_000, "frames drawn to fit k-means (masked-prediction)")
    iterations: int = _setting(1, "1: MFCC targets; 2: then k-means on --target-layer of the iteration-1 model "
                                  "(masked-prediction)")
    target_layer: int = _setting(4, "iteration 2 clusters this layer of the iteration-1 model")
    teacher: str = _setting("", "the iteration-1 model (a folder or a model id) whose --target-layer iteration 2 "
                                "clusters, instead of training iteration 1 first (needs --iterations 2)")
    epochs: int = _setting(20, "passes over the corpus per iteration")
    window_seconds: float = _setting(4.0, "length of the training windows (cut from the recordings on the frame grid)")
    batch_size: int = _setting(8, "windows per optimiser step")
    lr: float = _setting(2e-3, "peak AdamW learning rate (linear warm-up, then linear decay to 0)")
    warmup_fraction: float = _setting(0.08, "share of the steps of an iteration spent warming up")
    weight_decay: float = _setting(0.01, "AdamW weight decay")
    max_grad_norm: float = _setting(10.0, "gradient norm clip")
    mask_prob: float = _setting(0.08, "probability that a frame starts a masked span")
    mask_length: int = _setting(10, "frames per masked span")
    final_dim: int = _setting(64, "dimension of the projection compared with the cluster embeddings "
                                  "(contrastive: with the projected quantised targets)")
    temperature: float = _setting(0.1, "cosine-similarity logits are divided by this")
    unmasked_weight: float = _setting(0.5, "weight of the unmasked frames' cross-entropy beside the masked frames' "
                                           "(HuBERT's (1 - alpha) / alpha; 0: masked frames only; masked-prediction)")
    num_negatives: int = _setting(50, "distractors per masked frame, drawn from the other masked frames of its "
                                      "window (contrastive)")
    codevector_groups: int = _setting(2, "codebooks G of the Gumbel product quantiser (contrastive)")
    codevectors_per_group: int = _setting(16, "entries V of each codebook (contrastive)")
    codevector_dim: int = _setting(64, "dimension of a quantised vector, G entries concatenated (contrastive)")
    diversity_weight: float = _setting(0.1, "weight alpha of the codebook diversity loss (contrastive)")
    gumbel_start: float = _setting(2.0, "Gumbel softmax temperature at the first step (contrastive)")
    gumbel_end: float = _setting(0.5, "its floor (contrastive)")
    gumbel_decay: float = _setting(0.9996, "its factor per optimiser step: max(start * decay^step, end) (contrastive)")
    seed: int = _setting(0, "seed of initialisation, windows, masks and k-means")

    def __post_init__(self):
        if self.family not in OBJECTIVES:
            raise ConfigError(f"pretrain setting family must be 'hubert' or 'wav2vec2', not {self.family!r}")
        if self.objective not in ("",) + tuple(ONLY):
            raise ConfigError(f"pretrain setting objective must be one of {', '.join(ONLY)} (or empty: the family's "
                              f"own), not {self.objective!r}")
        if self.objective == OBJECTIVES[self.family]:
            object.__setattr__(self, "objective", "")  # one spelling per run: empty is the family's own
        if self.training_objective == "contrastive" and self.family != "wav2vec2":
            raise ConfigError("pretrain setting objective contrastive needs family wav2vec2 "
                              "(transformers' Wav2Vec2ForPreTraining; HubertModel has no quantiser)")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for objective, names in ONLY.items():
            for name in names:
                if objective != self.training_objective and getattr(self, name) != defaults[name]:
                    raise ConfigError(f"pretrain setting {name} applies to the {objective} objective only "
                                      f"(this run's is {self.training_objective})")
        positive = ("hidden_size", "num_layers", "num_heads", "intermediate_size", "conv_channels", "corpus_seconds",
                    "clusters", "kmeans_frames", "epochs", "window_seconds", "batch_size", "lr", "mask_length",
                    "final_dim", "temperature", "max_grad_norm", "num_negatives", "codevector_groups",
                    "codevectors_per_group", "codevector_dim", "gumbel_end")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"pretrain setting {name} must be > 0, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"pretrain setting hidden_size ({self.hidden_size}) must be a multiple of num_heads")
        if self.codevector_dim % self.codevector_groups:
            raise ConfigError(f"pretrain setting codevector_dim ({self.codevector_dim}) must be a multiple of "
                              "codevector_groups")
        if self.gumbel_start < self.gumbel_end:
            raise ConfigError(f"pretrain setting gumbel_start ({self.gumbel_start}) must be >= gumbel_end")
        if not 0 < self.gumbel_decay <= 1:
            raise ConfigError(f"pretrain setting gumbel_decay must lie in (0, 1], got {self.gumbel_decay!r}")
        if self.diversity_weight < 0:
            raise ConfigError(f"pretrain setting diversity_weight must be >= 0, got {self.diversity_weight!r}")
        if self.iterations not in (1, 2):
            raise ConfigError(f"pretrain setting iterations must be 1 or 2, got {self.iterations}")
        if self.iterations == 2 and not 0 <= self.target_layer <= self.num_layers:
            raise ConfigError(f"pretrain setting target_layer must lie in 0..{self.num_layers}, got {self.target_layer}")
        if self.teacher and self.iterations != 2:
            raise ConfigError("pretrain setting teacher needs iterations 2 (it stands in for iteration 1)")
        for name in ("validation_fraction", "warmup_fraction", "mask_prob"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"pretrain setting {name} must lie in [0, 1), got {getattr(self, name)!r}")
        if self.window_frames <= 2 * self.mask_length:
            raise ConfigError("pretrain setting window_seconds is too short for the masked spans")

    @property
    def training_objective(self) -> str:
        """masked-prediction or contrastive: the objective setting, or the family's own."""
        return self.objective or OBJECTIVES[self.family]

    @property
    def window_frames(self) -> int:
        return round(self.window_seconds * FRAME_RATE)

    @property
    def window_samples(self) -> int:
        return HOP * (self.window_frames - 1) + RECEPTIVE_FIELD

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def applies(self, name: str) -> bool:
        """Whether setting `name` is read by this run's objective."""
        return all(name not in names for objective, names in ONLY.items() if objective != self.training_objective)

    def command(self, out: str | os.PathLike, corpus: str | os.PathLike | None = None) -> str:
        """The `braintune pretrain` command line that runs these settings (every setting its objective
        reads spelled out; an empty objective or teacher left out)."""
        args = ["braintune", "pretrain", "--out", str(out)] + (["--corpus", str(corpus)] if corpus else [])
        for f in dataclasses.fields(self):
            if self.applies(f.name) and (f.name not in ("teacher", "objective") or getattr(self, f.name)):
                args += ["--" + f.name.replace("_", "-"), str(getattr(self, f.name))]
        return shlex.join(args)
