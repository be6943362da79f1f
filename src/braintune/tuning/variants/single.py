"""The single-participant variant: one model per participant, tuned on its own responses
(Moussa, Klakow & Toneva, ICLR 2025; braintune.tuning.data.load_data)."""

from __future__ import annotations

from collections.abc import Sequence

from braintune.data.fmri import FMRIDataset, StorySplit
from braintune.tuning.data import TuneData, load_data
from braintune.tuning.settings import TuneSettings
from braintune.tuning.variants.base import TuningVariant


class Single(TuningVariant):
    name = "single"
    per_participant = True

    def load_data(self, dataset: FMRIDataset, participants: Sequence[str], splits: dict[str, StorySplit],
                  settings: TuneSettings, space=None) -> TuneData:
        (participant,) = participants
        return load_data(dataset, participant, splits[participant], settings)


VARIANT = Single()
