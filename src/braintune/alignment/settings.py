"""Settings of brain alignment (the study's `align:` section, the `braintune align` flags),
and the two protocols it can follow.

| | braintune (default) | authors (bridge-ai-neuro/brain-tuning) |
| --- | --- | --- |
| noise ceiling | repeats z-scored over the rows used, TP = 1, var of the repeat mean with ddof = 0 | TP = 1, var of the repeat mean with ddof = 1, `nan_to_num` (`spe_and_cc_norm`) |
| test rows | all rows of the test story | the first 40 left out (features `[50:-5]` of the simulated TRs, `data[40:]`, `individual_repeats[:, 40:]`) |
| test response | mean of the z-scored repeats | mean of the repeats as stored |
| alpha choice | leave-stories-out folds (`n_folds`), mean validation Pearson r | 3 bootstraps holding out 25% of the rows in 20-row chunks, mean validation "variance explained" (Huth-lab `bootstrap_ridge(use_corr=False)`) |
| alpha grid, threshold | `alphas` and `ceiling_threshold` below, the same for both |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from braintune.errors import ConfigError

if TYPE_CHECKING:
    from braintune.data.ds003020 import StorySplit

PROTOCOLS = ("braintune", "authors")
# Huth-lab ridge penalises a**2; the authors' grid np.logspace(1, 4, 15) is this grid in himalaya's convention.
PAPER_ALPHAS = [float(a) ** 2 for a in np.logspace(1, 4, 15)]


@dataclass(frozen=True)
class Protocol:
    """What a protocol fixes (see the module docstring's table)."""

    name: str
    ceiling: str  # "consistent" | "authors"
    skip_test_rows: int
    folds: str  # "stories" | "chunks"
    metric: str  # braintune.encoding.ridge.METRICS


PROTOCOL = {
    "braintune": Protocol("braintune", ceiling="consistent", skip_test_rows=0, folds="stories", metric="correlation"),
    "authors": Protocol("authors", ceiling="authors", skip_test_rows=40, folds="chunks", metric="variance_explained"),
}


@dataclass(frozen=True)
class AlignSettings:
    """How each layer's encoding models are fitted, scored and summarised."""

    RESULT_NEUTRAL = ("voxel_batch", "backend")
    FIT_NEUTRAL = ("ceiling_threshold",)  # applied to stored voxel arrays: a change needs no refit

    protocol: str = field(default="braintune", metadata={
        "help": "'braintune' (consistent noise ceiling, every test row, leave-stories-out alpha choice) or "
                "'authors' (the public code's ceiling, first 40 test rows left out, bootstrap alpha choice)",
        "choices": PROTOCOLS})
    alphas: list[float] = field(default_factory=lambda: list(PAPER_ALPHAS), metadata={
        "help": "ridge penalties, himalaya's convention alpha*||b||^2 (a Huth-lab alpha a is a**2 here); "
                "default: the authors' logspace(1, 4, 15) squared, 1e2..1e8"})
    ceiling_threshold: float = field(default=0.05, metadata={"help": "voxels count where the noise ceiling exceeds this"})
    n_folds: int = field(default=5, metadata={"help": "braintune protocol: leave-stories-out folds choosing the alphas"})
    delays: list[int] = field(default_factory=lambda: [1, 2, 3, 4], metadata={
        "help": "FIR delays in TRs, added within each story"})
    voxel_batch: int = field(default=8192, metadata={"help": "voxels per ridge batch (memory bound)"})
    backend: str = field(default="auto", metadata={
        "help": "himalaya backend of the ridge products: 'auto' (torch_cuda where a GPU is visible, else numpy), "
                "numpy, torch, torch_cuda", "choices": ("auto", "numpy", "torch", "torch_cuda", "torch_mps", "cupy")})

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol: one of {PROTOCOLS}, got {self.protocol!r}")
        alphas = np.asarray(self.alphas, dtype=float)
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
            raise ConfigError(f"alphas: positive numbers, got {list(self.alphas)}")
        if not 0 <= self.ceiling_threshold < 1:
            raise ConfigError(f"ceiling_threshold: must lie in [0, 1), got {self.ceiling_threshold}")
        if self.n_folds < 2:
            raise ConfigError(f"n_folds: at least 2, got {self.n_folds}")
        if not self.delays or any(d < 0 for d in self.delays) or len(set(self.delays)) != len(self.delays):
            raise ConfigError(f"delays: distinct non-negative TR counts, got {list(self.delays)}")
        if self.voxel_batch < 1:
            raise ConfigError(f"voxel_batch: must be positive, got {self.voxel_batch}")

    @property
    def rules(self) -> Protocol:
        return PROTOCOL[self.protocol]

    def check_split(self, splits: Mapping[str, StorySplit]) -> None:
        """A ConfigError where a participant has too few training stories for the protocol's
        alpha choice: the braintune protocol holds out whole stories, n_folds groups of them."""
        if self.rules.folds != "stories":
            return
        for participant, split in splits.items():
            if len(split.train) < self.n_folds:
                raise ConfigError(
                    f"align.n_folds: {self.n_folds} leave-stories-out folds need at least {self.n_folds} training "
                    f"stories, but {participant} has {len(split.train)} ({', '.join(split.train[:4])}"
                    f"{', ...' if len(split.train) > 4 else ''}); lower align.n_folds, train on more stories, "
                    "or use align.protocol=authors (row-chunk folds)")

    def fit_settings(self) -> dict:
        """What a layer's fitted voxel arrays depend on (part of their cache key)."""
        from braintune.settings import result_settings

        out = result_settings(self)
        for name in self.FIT_NEUTRAL:
            out.pop(name)
        if self.rules.folds != "stories":
            out.pop("n_folds")
        return out
