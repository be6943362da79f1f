"""The targets of brain-tuning pairs, dense or pooled from several participants.

A variant that tunes one model on several participants gives each pair its participant's voxels
only: the head predicts every participant's voxels (the columns of all of them, participant by
participant), and a pair's loss counts the columns of its own participant (braintune.tuning.loop:
a target a pair lacks is multiplied by 0, so it receives no gradient from that pair). Stored dense,
pooled targets would be (pairs, all participants' voxels): BlockTargets keeps each participant's
block and builds a micro-batch's dense rows and mask on demand.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BlockTargets:
    """Targets of pooled pairs. blocks: per participant (its pairs, its targets) float32; columns:
    per participant the target columns its block fills (its own voxels, one after another's; or, in a
    common space, its vertices among the shared ones); n_targets: the columns in all; owner, row:
    (pairs,) the participant of each pair and its row in that participant's block."""

    blocks: tuple[np.ndarray, ...]
    columns: tuple[np.ndarray, ...]
    n_targets: int
    owner: np.ndarray
    row: np.ndarray

    @classmethod
    def pool(cls, blocks: list[np.ndarray], columns: list[np.ndarray] | None = None,
             n_targets: int | None = None) -> BlockTargets:
        """Every row of every block, participant after participant; without `columns` each
        participant's targets are its own columns, one participant's after another's."""
        if columns is None:
            offsets = np.cumsum([0, *(b.shape[1] for b in blocks)])
            columns = [np.arange(a, b) for a, b in zip(offsets[:-1], offsets[1:])]
            n_targets = int(offsets[-1])
        owner = np.concatenate([np.full(len(b), i, np.int64) for i, b in enumerate(blocks)])
        row = np.concatenate([np.arange(len(b), dtype=np.int64) for b in blocks])
        return cls(tuple(blocks), tuple(np.asarray(c, np.int64) for c in columns), int(n_targets), owner, row)

    def __len__(self) -> int:
        return len(self.owner)

    @property
    def shape(self) -> tuple[int, int]:
        """(pairs, targets), as a dense array's."""
        return len(self), self.n_targets

    def __getitem__(self, order) -> BlockTargets:
        """The targets of the pairs `order` (an index array): a reordering or a subset."""
        return BlockTargets(self.blocks, self.columns, self.n_targets, self.owner[order], self.row[order])

    def batch(self, indices) -> tuple[np.ndarray, np.ndarray]:
        """Dense targets (len(indices), targets) float32, 0 where a pair lacks the target, and the mask
        (len(indices), targets) bool of the targets each pair has."""
        y = np.zeros((len(indices), self.shape[1]), np.float32)
        mask = np.zeros(y.shape, bool)
        for k, i in enumerate(np.asarray(indices)):
            p = self.owner[i]
            y[k, self.columns[p]] = self.blocks[p][self.row[i]]
            mask[k, self.columns[p]] = True
        return y, mask


def target_batch(targets: np.ndarray | BlockTargets, indices) -> tuple[np.ndarray, np.ndarray | None]:
    """(len(indices), targets) float32 targets of the given pairs and their mask (None: every target)."""
    if isinstance(targets, BlockTargets):
        return targets.batch(indices)
    return targets[indices], None
