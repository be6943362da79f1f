"""The extraction scheme: how hidden states are sampled along a story (an owner of settings)."""

from __future__ import annotations

from dataclasses import dataclass, field

from braintune.data.audio import HOP, RECEPTIVE_FIELD, SAMPLE_RATE, to_samples
from braintune.errors import ConfigError

# scheme -> what else its features depend on (part of a cache key): the fields of Scheme only it
# reads, and the version of its windowing plan. The extraction code: features.extraction.EXTRACTORS.
FAST_PLAN = 2  # version of the fast scheme: 2 = stride shrunk at the start, CNN run once
SCHEMES = {
    "reference": {"fields": (), "version": {}},
    "fast": {"fields": ("chunk",), "version": {"plan": FAST_PLAN}},
}
SCHEME_FIELDS = ("chunk",)  # fields only some schemes read
DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class Scheme:
    """How hidden states are sampled along a story (times in seconds): the owner of the
    extraction settings (the study's `features:` section, the `--scheme ...` flags)."""

    RESULT_NEUTRAL = ("batch_size",)

    scheme: str = field(default="reference", metadata={
        "help": "extraction scheme: 'reference' (one context-long causal window per step, the field's and the "
                "paper's) or 'fast' (long windows every chunk, all their final frames kept: faster, but on a trained "
                "model a kept frame also hears up to chunk seconds after it)", "choices": tuple(SCHEMES)})
    step: float = field(default=0.1, metadata={"help": "seconds between feature times"})
    context: float = field(default=16.0, metadata={"help": "seconds of audio the model hears before each kept frame"})
    chunk: float = field(default=0.8, metadata={
        "help": "fast scheme: seconds between windows, the most audio a kept frame sees after it (a multiple of 0.02)"})
    dtype: str = field(default="float32", metadata={
        "help": "'bfloat16' runs the transformer blocks under bfloat16 autocast (weights stay float32)", "choices": DTYPES})
    batch_size: int = field(default=4, metadata={"help": "equal-length windows per forward pass (memory and speed, not results)"})

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ConfigError(f"scheme: one of {tuple(SCHEMES)}, not {self.scheme!r}")
        if not (self.step > 0 and to_samples(self.step) > 0):
            raise ConfigError(f"step: must be positive, not {self.step}")
        if to_samples(self.context) < RECEPTIVE_FIELD:
            raise ConfigError(f"context: must be at least {RECEPTIVE_FIELD / SAMPLE_RATE} s, not {self.context}")
        if self.chunk <= 0 or to_samples(self.chunk) % HOP:
            raise ConfigError(f"chunk: must be a positive multiple of {HOP / SAMPLE_RATE} s, not {self.chunk}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"dtype: one of {DTYPES}, not {self.dtype!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: must be at least 1, not {self.batch_size}")

    @property
    def bf16(self) -> bool:
        return self.dtype == "bfloat16"

    def settings(self) -> dict:
        """The fields that change the features (what a cache is keyed on)."""
        from braintune.settings import result_settings

        out = result_settings(self)
        for name in SCHEME_FIELDS:
            if name not in SCHEMES[self.scheme]["fields"]:
                del out[name]
        return {**out, **SCHEMES[self.scheme]["version"]}

