"""A second fMRI layout plugs in without touching braintune: a toy layout defined here (stories
and responses as npz files), registered with braintune.data.fmri.register_dataset, runs
brain-tuning and the pretrained model's alignment through `braintune run`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from braintune.cli import main
from braintune.data.fmri import LAYOUTS, FMRIDataset, open_dataset, register_dataset
from braintune.errors import DataError


class NpzStories(FMRIDataset):
    """root/stories/<story>.npz (audio (samples,) at 16 kHz, row_times (rows,)),
    root/<participant>/<story>.npz (responses (rows, voxels); the test story also repeats
    (repeats, rows, voxels)), root/<participant>.rois.json."""

    LAYOUT = "npz-stories"

    def _story(self, story: str) -> Path:
        return self.root / "stories" / f"{story}.npz"

    @property
    def participants(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name != "stories")

    @property
    def stories(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "stories").glob("*.npz"))

    def stories_of(self, participant: str) -> list[str]:
        return sorted(p.stem for p in (self.root / participant).glob("*.npz"))

    def row_times(self, story: str) -> np.ndarray:
        with np.load(self._story(story)) as z:
            return z["row_times"]

    def load_audio(self, story: str, sample_rate: int = 16000) -> np.ndarray:
        assert sample_rate == 16000
        with np.load(self._story(story)) as z:
            return z["audio"]

    def audio_path(self, story: str) -> Path:
        return self._story(story)

    def response_path(self, participant: str, story: str, must_exist: bool = True) -> Path:
        path = self.root / participant / f"{story}.npz"
        if must_exist and not path.is_file():
            raise DataError(f"{path}: no responses of {participant} to {story!r}")
        return path

    def load_responses(self, participant: str, story: str, voxels: Sequence[int] | None = None) -> np.ndarray:
        with np.load(self.response_path(participant, story)) as z:
            data = z["responses"]
        return data if voxels is None else data[:, np.asarray(voxels, dtype=int)]

    def load_repeats(self, participant: str, story: str, voxels: Sequence[int] | None = None) -> np.ndarray:
        with np.load(self.response_path(participant, story)) as z:
            data = z["repeats"]
        return data if voxels is None else data[..., np.asarray(voxels, dtype=int)]

    def n_voxels(self, participant: str) -> int:
        return self.load_responses(participant, self.stories_of(participant)[0]).shape[1]

    def roi_path(self, participant: str) -> Path:
        return self.root / f"{participant}.rois.json"

    def key_files(self, participant: str, stories: Sequence[str], rois: bool = False) -> list[Path]:
        files = [*(self._story(s) for s in stories), *(self.response_path(participant, s) for s in stories)]
        return files + [self.roi_path(participant)] if rois else files


def convert(source: FMRIDataset, participants: list[str], out: Path) -> Path:
    """Write `source`'s participants and stories in the toy layout."""
    (out / "stories").mkdir(parents=True)
    for story in source.stories:
        np.savez(out / "stories" / f"{story}.npz", audio=source.load_audio(story), row_times=source.row_times(story))
    for p in participants:
        (out / p).mkdir()
        for story in source.stories_of(p):
            arrays = {"responses": source.load_responses(p, story)}
            if story == "wheretheressmoke":
                arrays["repeats"] = source.load_repeats(p, story)
            np.savez(out / p / f"{story}.npz", **arrays)
        rois = {name: idx.tolist() for name, idx in source.load_rois(p).items()}
        (out / f"{p}.rois.json").write_text(json.dumps(rois))
    return out


@pytest.fixture
def toy_layout(sim_dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(LAYOUTS, NpzStories.LAYOUT, NpzStories)  # registered for this test only
    register_dataset(NpzStories.LAYOUT, NpzStories)
    return convert(open_dataset("ds003020", sim_dataset), ["UTS01"], tmp_path / "toy")


def test_a_layout_defined_outside_braintune_runs_tuning_and_alignment(toy_layout, tmp_path):
    config = {
        "name": "toy", "out": str(tmp_path / "run"), "models": ["tiny:hubert"], "participants": ["UTS01"],
        "stages": ["tune", "align_pretrained"],
        "data": {"fmri": str(toy_layout), "layout": "npz-stories"},
        "tune": {"epochs": 1, "batch_size": 8, "micro_batch_size": 8, "window_seconds": 4.0, "warmup_epochs": 1,
                 "ceiling_threshold": 0.3},
        "features": {"scheme": "fast"},
        "align": {"n_folds": 2},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path)]) == 0
    table = pd.read_csv(tmp_path / "run" / "tables" / "alignment.csv")
    assert set(table["variant"]) == {"pretrained"} and set(table["participant"]) == {"UTS01"}
    assert table.loc[table.roi == "whole_cortex", "alignment"].notna().all()
    backbone = next((tmp_path / "run" / "cells" / "tune").rglob("backbone"))
    assert (backbone / "config.json").is_file()
    tuned = yaml.safe_load((backbone.parent / "config.yaml").read_text())
    assert tuned["subject"] == "UTS01" and tuned["data"] == str(toy_layout)
