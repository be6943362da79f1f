"""The multi-participant variant (Moussa & Toneva, NeurIPS 2025; bridge-ai-neuro/multi-brain-tuning):
one model tuned on several participants at once. Each participant keeps its own target voxels
(ceiling above the threshold) and its own stories; the pairs of all are pooled, so batches mix
participants, and a pair's loss counts only its participant's voxels (braintune.tuning.targets).
The head predicts every participant's voxels: one linear head per participant, as the rows of one
layer (tune.head: per_participant). The control shuffles the pairing across all pooled pairs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from braintune.data.fmri import FMRIDataset, StorySplit
from braintune.tuning.data import Pairs, TuneData, load_data, shuffled_pairing
from braintune.tuning.settings import TuneSettings
from braintune.tuning.targets import BlockTargets
from braintune.tuning.variants.base import TuningVariant


def pool_pairs(parts: Sequence[Pairs]) -> Pairs:
    """The pairs of several participants, one after the other, with pooled targets (BlockTargets)."""
    stories = list(dict.fromkeys(s for part in parts for s in part.stories))
    audio = {s: a for part in parts for s, a in part.audio.items()}
    story = np.concatenate([np.array([stories.index(part.stories[i]) for i in part.story], np.int64) for part in parts])
    return Pairs(stories=stories, audio=audio, story=story, end=np.concatenate([part.end for part in parts]),
                 targets=BlockTargets.pool([part.targets for part in parts]), window=parts[0].window)


class Multi(TuningVariant):
    name = "multi"
    per_participant = False

    def load_data(self, dataset: FMRIDataset, participants: Sequence[str], splits: dict[str, StorySplit],
                  settings: TuneSettings) -> TuneData:
        own = dataclasses.replace(settings, shuffle_pairs=False)  # the control shuffles the pooled pairs
        parts = [load_data(dataset, p, splits[p], own) for p in participants]
        train = pool_pairs([part.train for part in parts])
        return TuneData(
            voxels=np.concatenate([part.voxels for part in parts]),
            ceilings=np.concatenate([part.ceilings for part in parts]),
            train=shuffled_pairing(train, settings.seed) if settings.shuffle_pairs else train,
            validation=pool_pairs([part.validation for part in parts]),
            owners=np.concatenate([np.full(len(part.voxels), p) for p, part in zip(participants, parts)]),
        )


VARIANT = Multi()
