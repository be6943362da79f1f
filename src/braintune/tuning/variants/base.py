"""The interface of a tuning variant (see braintune.tuning.variants)."""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch

from braintune.data.fmri import FMRIDataset, StorySplit
from braintune.tuning.checkpoint import RunFolder
from braintune.tuning.data import TuneData
from braintune.tuning.model import BrainTuner
from braintune.tuning.settings import TuneSettings


class TuningVariant(abc.ABC):
    """What one tune cell trains: for whom, on which data, with which model, exported how."""

    name: str
    per_participant: bool  # one tune cell (and model) per participant, or one for all tuning participants

    @abc.abstractmethod
    def load_data(self, dataset: FMRIDataset, participants: Sequence[str], splits: dict[str, StorySplit],
                  settings: TuneSettings, space=None) -> TuneData:
        """Target voxels and the training and validation pairs (pooled targets where a pair lacks some);
        space: the common space's files (braintune.data.fsaverage.CommonSpace), where a variant needs it."""

    def build_model(self, model_source: str, data: TuneData, settings: TuneSettings,
                    device: torch.device) -> BrainTuner:
        """The encoder `model_source` (CNN frozen) with a head to the data's targets."""
        from braintune.tuning.model import build_model

        return build_model(model_source, len(data.voxels), settings, device)

    def export(self, run: RunFolder, net: BrainTuner) -> None:
        """Write the tuned backbone (AutoModel.from_pretrained loads it) and the head into the run folder."""
        run.export(net)
