"""Settings of brain alignment (the study's `align:` section, the `braintune align` flags);
the protocols they can follow are rows of braintune.alignment.protocols."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from braintune.alignment.protocols import PROTOCOLS, Protocol
from braintune.encoding.ridge import AUTO, BACKENDS
from braintune.errors import ConfigError

if TYPE_CHECKING:
    from braintune.data.fmri import StorySplit

# Huth-lab ridge penalises a**2; the authors' grid np.logspace(1, 4, 15) is this grid in himalaya's convention.
PAPER_ALPHAS = [float(a) ** 2 for a in np.logspace(1, 4, 15)]
FOLD_FIELDS = ("n_folds",)  # fields only some fold rules read (Protocol.folds.uses)


@dataclass(frozen=True)
class AlignSettings:
    """How each layer's encoding models are fitted, scored and summarised."""

    RESULT_NEUTRAL = ("voxel_batch", "backend")
    FIT_NEUTRAL = ("ceiling_threshold", "fdr", "atlas", "affines")  # applied to stored voxel arrays: no refit
    KEYED_WHEN_SET = ("atlas", "affines")  # later than the first cache keys; unset, the earlier results

    protocol: str = field(default="braintune", metadata={
        "help": "'braintune' (consistent noise ceiling, every test row, leave-stories-out alpha choice) or "
                "'authors' (the public code's ceiling, first 40 test rows left out, bootstrap alpha choice)",
        "choices": tuple(PROTOCOLS)})
    alphas: list[float] = field(default_factory=lambda: list(PAPER_ALPHAS), metadata={
        "help": "ridge penalties, himalaya's convention alpha*||b||^2 (a Huth-lab alpha a is a**2 here); "
                "default: the authors' logspace(1, 4, 15) squared, 1e2..1e8"})
    ceiling_threshold: float = field(default=0.05, metadata={"help": "voxels count where the noise ceiling exceeds this"})
    n_folds: int = field(default=5, metadata={"help": "braintune protocol: leave-stories-out folds choosing the alphas"})
    delays: list[int] = field(default_factory=lambda: [1, 2, 3, 4], metadata={
        "help": "FIR delays in TRs, added within each story"})
    atlas: str | None = field(default=None, metadata={
        "help": "authors' protocol: HCP-MMP1 atlas folder (MNE's layout: fsaverage/surf/?h.{pial,white}, "
                "fsaverage/label/?h.HCPMMP1.annot); ROI values then go through fsaverage as their code does"})
    affines: str | None = field(default=None, metadata={
        "help": "authors' protocol, with atlas: folder of their affine_s<N>.npy (voxel -> MNI) per participant "
                "(bridge-ai-neuro/brain-tuning datasets/affine_transforms)"})
    permutations: int = field(default=1000, metadata={
        "help": "block permutations of the test story's rows that give each voxel's r a p-value (0: none)"})
    permutation_block: int = field(default=10, metadata={
        "help": "rows (TRs) per permuted block: long enough to keep the responses' autocorrelation"})
    fdr: float = field(default=0.05, metadata={
        "help": "Benjamini-Hochberg false discovery rate over the voxels above the ceiling threshold: the "
                "significant voxels counted per ROI"})
    voxel_batch: int = field(default=8192, metadata={"help": "voxels per ridge batch (memory bound)"})
    backend: str = field(default="auto", metadata={
        "help": "himalaya backend of the ridge products: 'auto' (torch_cuda where a GPU is visible, else numpy), "
                "numpy, torch, torch_cuda", "choices": (AUTO, *BACKENDS)})

    def __post_init__(self):
        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"protocol: one of {tuple(PROTOCOLS)}, got {self.protocol!r}")
        if self.backend not in (AUTO, *BACKENDS):
            raise ConfigError(f"backend: one of {(AUTO, *BACKENDS)}, got {self.backend!r}")
        alphas = np.asarray(self.alphas, dtype=float)
        if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
            raise ConfigError(f"alphas: positive numbers, got {list(self.alphas)}")
        if not 0 <= self.ceiling_threshold < 1:
            raise ConfigError(f"ceiling_threshold: must lie in [0, 1), got {self.ceiling_threshold}")
        if self.n_folds < 2:
            raise ConfigError(f"n_folds: at least 2, got {self.n_folds}")
        if not self.delays or any(d < 0 for d in self.delays) or len(set(self.delays)) != len(self.delays):
            raise ConfigError(f"delays: distinct non-negative TR counts, got {list(self.delays)}")
        if (self.atlas is None) != (self.affines is None):
            raise ConfigError("atlas and affines: the authors' ROI values need both (or neither: voxel means)")
        if self.permutations < 0 or self.permutation_block < 1:
            raise ConfigError(f"permutations and permutation_block: >= 0 and >= 1, got {self.permutations}, "
                              f"{self.permutation_block}")
        if not 0 < self.fdr < 1:
            raise ConfigError(f"fdr: must lie in (0, 1), got {self.fdr!r}")
        if self.voxel_batch < 1:
            raise ConfigError(f"voxel_batch: must be positive, got {self.voxel_batch}")

    @property
    def rules(self) -> Protocol:
        return PROTOCOLS[self.protocol]

    def roi_values(self) -> str:
        """How this run's ROI values are made (the protocol's rule), in words for the report."""
        return self.rules.rois.description(self)

    def neutral_fields(self) -> set[str]:
        """The atlas and affines change nothing where the protocol's ROI values are voxel means."""
        return set() if self.rules.rois.uses_atlas else {"atlas", "affines"}

    def check_split(self, splits: Mapping[str, StorySplit], story_rows: Callable[[str], int]) -> None:
        """A ConfigError where a participant's training stories cannot make the protocol's folds
        (too few stories for n_folds leave-stories-out folds; too few rows for the authors' chunks).
        story_rows: story -> its number of response rows."""
        self.rules.check_split(splits, story_rows, self)

    def fit_settings(self) -> dict:
        """What a layer's fitted voxel arrays depend on (part of their cache key)."""
        from braintune.settings import result_settings

        out = result_settings(self)
        for name in self.FIT_NEUTRAL:
            out.pop(name, None)
        for name in FOLD_FIELDS:
            if name not in self.rules.folds.uses:
                out.pop(name)
        return out
