"""Settings of the probing suite (the study's `probe:` section, the `braintune probe` flags)."""

from __future__ import annotations

from dataclasses import dataclass, field

from braintune.data.corpora import PROBE_CORPORA
from braintune.errors import ConfigError
from braintune.probing.tasks import REGISTRY

TASKS = tuple(REGISTRY)  # every registered task (braintune.probing.tasks), in module order
TIMIT_TEST_SETS = ("test", "core-test")


@dataclass(frozen=True)
class ProbeSettings:
    """Which probes run on every layer, and on which rows."""

    RESULT_NEUTRAL = ("batch_size",)

    tasks: list[str] = field(default_factory=lambda: list(TASKS), metadata={
        "help": "probing tasks: " + "; ".join(f"{t.name} ({t.help})" for t in REGISTRY.values()), "choices": TASKS})
    segment_seconds: float | None = field(default=None, metadata={
        "help": "phoneme probe: segment length in seconds (default: whole utterances)"})
    frames_per_utterance: int | None = field(default=20, metadata={
        "help": "MFCC probe: frames drawn (seeded) per TIMIT utterance (none: all frames)"})
    timit_test_set: str = field(default="test", metadata={
        "help": "TIMIT test speakers: 'test' (all 168) or 'core-test' (the 24 of the core set)",
        "choices": TIMIT_TEST_SETS})
    validation_fraction: float = field(default=0.1, metadata={
        "help": "share of TIMIT training speakers held out to choose the regularisation"})
    batch_size: int = field(default=16, metadata={"help": "equal-length items per forward pass"})

    def __post_init__(self):
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown or not self.tasks:
            raise ConfigError(f"tasks: choose from {list(TASKS)}, got {list(self.tasks)}")
        if self.segment_seconds is not None and not self.segment_seconds > 0:
            raise ConfigError(f"segment_seconds: must be > 0, got {self.segment_seconds}")
        if self.frames_per_utterance is not None and self.frames_per_utterance < 1:
            raise ConfigError(f"frames_per_utterance: must be >= 1, got {self.frames_per_utterance}")
        if self.timit_test_set not in TIMIT_TEST_SETS:
            raise ConfigError(f"timit_test_set: one of {TIMIT_TEST_SETS}, got {self.timit_test_set!r}")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction: must lie in (0, 1), got {self.validation_fraction}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: must be >= 1, got {self.batch_size}")

    def tasks_on(self, corpus: str) -> list[str]:
        """The chosen tasks that read `corpus` (a name of braintune.data.corpora.PROBE_CORPORA)."""
        return [t for t in self.tasks if REGISTRY[t].corpus == corpus]

    @property
    def corpora(self) -> list[str]:
        """The probe corpora the chosen tasks read (names of braintune.data.corpora.PROBE_CORPORA)."""
        return [name for name in PROBE_CORPORA if self.tasks_on(name)]
