"""The alignment protocols, as rows of rules: which test rows count, how the noise ceiling and
the test response are made from the repeats, how the training rows are folded to choose the
alphas, and which validation score chooses them.

| | braintune (default) | authors (bridge-ai-neuro/brain-tuning) |
| --- | --- | --- |
| noise ceiling | repeats z-scored over the rows used, TP = 1, var of the repeat mean with ddof = 0 | TP = 1, var of the repeat mean with ddof = 1, `nan_to_num` (`spe_and_cc_norm`) |
| test rows | all rows of the test story | the first 40 left out (features `[50:-5]` of the simulated TRs, `data[40:]`, `individual_repeats[:, 40:]`) |
| test response | mean of the z-scored repeats | mean of the repeats as stored |
| alpha choice | leave-stories-out folds (`n_folds`), mean validation Pearson r | 3 bootstraps holding out 25% of the rows in 20-row chunks, mean validation "variance explained" (Huth-lab `bootstrap_ridge(use_corr=False)`) |
| ROI values | mean over the ROI's voxels | fsaverage HCP-MMP1 area means, a group the mean of its areas' (alignment.fsaverage), given `align.atlas` and `align.affines`; voxel means without them |
| alpha grid, threshold | `alphas` and `ceiling_threshold` of AlignSettings, the same for both |

A new protocol is one more row of PROTOCOLS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from braintune.encoding import chunk_folds, noise_ceiling, noise_ceiling_authors, story_folds, zscored_repeats_mean
from braintune.errors import ConfigError


@dataclass(frozen=True)
class StoryFolds:
    """Leave-stories-out folds: the training stories in `n_folds` groups, each validating once."""

    uses = ("n_folds",)  # the AlignSettings fields this rule reads

    def folds(self, story_rows: Sequence[int], settings) -> list[tuple[np.ndarray, np.ndarray]]:
        return story_folds(story_rows, settings.n_folds)

    def check(self, participant: str, stories: Sequence[str], story_rows: Sequence[int], settings) -> None:
        """A ConfigError when the participant has fewer training stories than folds."""
        if len(stories) < settings.n_folds:
            raise ConfigError(
                f"align.n_folds: {settings.n_folds} leave-stories-out folds need at least {settings.n_folds} training "
                f"stories, but {participant} has {len(stories)} ({', '.join(stories[:4])}"
                f"{', ...' if len(stories) > 4 else ''}); lower align.n_folds, train on more stories, "
                "or use align.protocol=authors (row-chunk folds)")


@dataclass(frozen=True)
class ChunkFolds:
    """Huth-lab bootstrap folds (braintune.encoding.chunk_folds): `n_boots` draws, each holding out
    `held_fraction` of the stacked training rows in chunks of `chunk_len`, seeded."""

    n_boots: int = 3
    chunk_len: int = 20
    held_fraction: float = 0.25
    seed: int = 0
    uses = ()

    def folds(self, story_rows: Sequence[int], settings) -> list[tuple[np.ndarray, np.ndarray]]:
        return chunk_folds(sum(story_rows), self.n_boots, self.chunk_len, self.held_fraction, self.seed)

    def check(self, participant: str, stories: Sequence[str], story_rows: Sequence[int], settings) -> None:
        """A ConfigError when the training rows make too few chunks to hold some out."""
        rows = int(sum(story_rows))
        held = max(1, int(rows * self.held_fraction / self.chunk_len))
        if rows // self.chunk_len < held + 1:
            raise ConfigError(
                f"align.protocol: the authors' bootstrap folds hold out chunks of {self.chunk_len} rows, but "
                f"{participant}'s {len(stories)} training stor{'y' if len(stories) == 1 else 'ies'} give {rows} rows "
                f"({rows // self.chunk_len} chunks; at least {(held + 1) * self.chunk_len} rows needed); train on "
                "more or longer stories")


VOXEL_MEANS_TEXT = "means over each ROI's voxels whose noise ceiling passes the threshold"


@dataclass(frozen=True)
class VoxelMeans:
    """ROI value = the mean over the ROI's voxels of r / CCmax (voxels above the threshold)."""

    uses_atlas = False

    def through_fsaverage(self, settings) -> bool:
        return False

    def description(self, settings) -> str:
        """How the ROI values of a run with `settings` (AlignSettings) were made, for the report."""
        return VOXEL_MEANS_TEXT


@dataclass(frozen=True)
class FsaverageMeans:
    """The authors' ROI values (braintune.alignment.fsaverage) when align.atlas and align.affines are
    given; voxel means without them (said in the log and the report)."""

    uses_atlas = True

    def through_fsaverage(self, settings) -> bool:
        return settings.atlas is not None

    def description(self, settings) -> str:
        """How the ROI values of a run with `settings` (AlignSettings) were made, for the report."""
        if not self.through_fsaverage(settings):
            return VOXEL_MEANS_TEXT
        return ("HCP-MMP1 area means on fsaverage (the authors' aggregation: their affine to MNI, nilearn's "
                "vol_to_surf, NaN as 0; a group is the mean of its areas' means)")


def consistent_test_data(repeats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """braintune's rule: (noise ceiling (voxels,), mean of the z-scored repeats (rows, voxels)).
    repeats: (repeats, rows, voxels)."""
    return noise_ceiling(repeats), zscored_repeats_mean(repeats)


def authors_test_data(repeats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The authors' rule: (their noise ceiling (voxels,), mean of the repeats as stored (rows, voxels))."""
    return noise_ceiling_authors(repeats), repeats.mean(0, dtype=np.float64).astype(np.float32)


@dataclass(frozen=True)
class Protocol:
    """One protocol (see the module docstring's table).

    skip_test_rows: the first rows of the test story left out (features, response and repeats);
    test_data: repeats (repeats, rows, voxels) -> (ceiling (voxels,), test response (rows, voxels));
    folds: the fold rule choosing the alphas; metric: its validation score (encoding.ridge.METRICS);
    rois: how an ROI's value is made from the voxels' r / CCmax.
    """

    name: str
    skip_test_rows: int
    test_data: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    folds: StoryFolds | ChunkFolds
    metric: str
    rois: VoxelMeans | FsaverageMeans = VoxelMeans()

    def check_split(self, splits: Mapping, story_rows: Callable[[str], int], settings) -> None:
        """A ConfigError where a participant's training stories cannot make this protocol's folds.
        splits: participant -> StorySplit; story_rows: story -> its number of response rows."""
        for participant, split in splits.items():
            self.folds.check(participant, list(split.train), [story_rows(s) for s in split.train], settings)


PROTOCOLS = {
    "braintune": Protocol("braintune", skip_test_rows=0, test_data=consistent_test_data, folds=StoryFolds(),
                          metric="correlation"),
    "authors": Protocol("authors", skip_test_rows=40, test_data=authors_test_data, folds=ChunkFolds(),
                        metric="variance_explained", rois=FsaverageMeans()),
}
