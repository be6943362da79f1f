"""Probe corpora: the audio items a task's rows come from, and each item's role.

A corpus reader returns a `Corpus`: its items (TIMIT utterances, Speech Commands clips),
each item's role ("fit" trains a probe, "validation" chooses its regularisation, "test"
scores it) and how to load its audio. TIMIT tests on its TEST speakers (all, or the
24-speaker core set) and validates on a seeded share of whole TRAIN speakers; Speech
Commands tests on testing_list.txt and validates on validation_list.txt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from braintune.data import speech_commands, timit
from braintune.data.audio import num_frames
from braintune.errors import ConfigError

ROLES = ("fit", "validation", "test")


@dataclass(frozen=True)
class Split:
    """Disjoint row indices: fit, validation (chooses hyperparameters) and test (scored)."""

    fit: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def __post_init__(self):
        sets = [set(np.asarray(a).tolist()) for a in (self.fit, self.validation, self.test)]
        if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
            raise ValueError("fit, validation and test rows overlap")
        if not all(sets):
            raise ValueError("fit, validation and test sets must all be non-empty")

    @property
    def train(self) -> np.ndarray:
        """fit + validation: the rows the final model is refit on."""
        return np.concatenate([self.fit, self.validation])


@dataclass
class Corpus:
    """Audio items of a probe corpus.

    name: corpus name (braintune.data.corpora.PROBE_CORPORA: "timit", "speech_commands"). items: its utterances or clips.
    role: (items,) "fit" | "validation" | "test". fingerprints: one string per item that
    changes when its audio does. n_samples: (items,) int64. load(i) -> (samples,) float32.
    """

    name: str
    items: list
    role: np.ndarray
    fingerprints: list[str]
    n_samples: np.ndarray
    load: Callable[[int], np.ndarray]

    @property
    def n_frames(self) -> np.ndarray:
        """(items,) model frames of each item."""
        return np.array([num_frames(int(n)) for n in self.n_samples], np.int64)

    def split_of(self, item_of_row: np.ndarray) -> Split:
        """The split of rows that belong to the given items: each row takes its item's role."""
        roles = self.role[np.asarray(item_of_row)]
        return Split(*(np.flatnonzero(roles == r) for r in ROLES))


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def carve_validation_speakers(speakers: list[str], fraction: float = 0.1, seed: int = 0) -> set[str]:
    """A seeded random `fraction` (at least one, at most all but one) of the distinct speakers."""
    distinct = sorted(set(speakers))
    if len(distinct) < 2:
        raise ConfigError("need at least two training speakers to carve a validation set")
    n = min(len(distinct) - 1, max(1, round(fraction * len(distinct))))
    order = np.random.default_rng(seed).permutation(len(distinct))
    return {distinct[i] for i in order[:n]}


def timit_corpus(root: str | Path, settings, seed: int = 0) -> Corpus:
    """TIMIT TRAIN utterances (fit, or validation for a seeded settings.validation_fraction of
    the speakers) and the settings.timit_test_set ("test" or "core-test") utterances (test)."""
    train = timit.list_utterances(root, "train")
    test = timit.list_utterances(root, settings.timit_test_set)
    validation = carve_validation_speakers([u.speaker for u in train], settings.validation_fraction, seed)
    utterances = train + test
    role = np.array(["validation" if u.speaker in validation else "fit" for u in train] + ["test"] * len(test))
    return Corpus("timit", utterances, role, [_fingerprint(u.path("WAV")) for u in utterances],
                  np.array([timit.num_samples(u) for u in utterances], np.int64),
                  lambda i: timit.read_audio(utterances[i]))


def speech_commands_corpus(root: str | Path, settings=None, seed: int = 0) -> Corpus:
    """Speech Commands clips (1 s each); roles from the list files (train -> fit)."""
    clips = speech_commands.list_clips(root)
    role = np.array(["fit" if c.split == "train" else c.split for c in clips])
    return Corpus("speech_commands", clips, role, [_fingerprint(c.path) for c in clips],
                  np.full(len(clips), speech_commands.CLIP_SAMPLES, np.int64),
                  lambda i: speech_commands.read_clip(clips[i]))


CORPORA = {"timit": timit_corpus, "speech_commands": speech_commands_corpus}  # name -> reader(root, settings, seed)
