"""Speech Commands v0.02 (Warden 2018) reader, for the released on-disk layout.

    root/<word>/<speaker hash>_nohash_<n>.wav     16 kHz mono 16-bit, at most 1 s
    root/validation_list.txt, root/testing_list.txt   held-out files, "<word>/<file>.wav" per line
    root/_background_noise_/                       ignored

Training clips are all clips in neither list. Clips shorter than 1 s are zero-padded at
the end to exactly 16000 samples; a longer clip is an error.
(The Hugging Face copy's test split is the 12-class task, not this 35-word one.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from braintune.data import audio
from braintune.data.audio import SAMPLE_RATE
from braintune.errors import DataError

CLIP_SAMPLES = 16000

WORDS = (
    "backward", "bed", "bird", "cat", "dog", "down", "eight", "five", "follow", "forward", "four", "go",
    "happy", "house", "learn", "left", "marvin", "nine", "no", "off", "on", "one", "right", "seven",
    "sheila", "six", "stop", "three", "tree", "two", "up", "visual", "wow", "yes", "zero",
)
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Clip:
    """One recording: `relpath` is "<word>/<hash>_nohash_<n>.wav" (as in the list files)."""

    root: Path
    relpath: str
    word: str
    speaker: str
    split: str  # train | validation | test

    @property
    def path(self) -> Path:
        return self.root / self.relpath


def _read_list(path: Path, root: Path) -> set[str]:
    if not path.is_file():
        raise DataError(f"{path}: missing; Speech Commands v0.02 lists its held-out clips in "
                        "validation_list.txt and testing_list.txt")
    entries = {line.strip() for line in path.read_text().splitlines() if line.strip()}
    for entry in sorted(entries):
        if not (root / entry).is_file():
            raise DataError(f"{path}: lists {entry}, which is not in {root}")
    return entries


def list_clips(root: str | Path, split: str | None = None) -> list[Clip]:
    """Clips of the corpus (of one split if given), sorted by relpath."""
    root = Path(root)
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown Speech Commands split {split!r}: use one of {SPLITS}")
    if not root.is_dir():
        raise DataError(f"{root}: Speech Commands root is not a folder")
    validation = _read_list(root / "validation_list.txt", root)
    testing = _read_list(root / "testing_list.txt", root)
    both = validation & testing
    if both:
        raise DataError(f"{root}: {sorted(both)[0]} is in both validation_list.txt and testing_list.txt")
    clips = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for wav in sorted(folder.glob("*.wav")):
            rel = f"{folder.name}/{wav.name}"
            which = "validation" if rel in validation else "test" if rel in testing else "train"
            if split is None or which == split:
                clips.append(Clip(root, rel, folder.name, wav.name.split("_nohash_")[0], which))
    if not clips:
        where = f" in split {split}" if split else ""
        raise DataError(f"{root}: no clips <word>/<hash>_nohash_<n>.wav found{where}")
    return clips


def read_clip(clip: Clip | str | Path) -> np.ndarray:
    """A clip's waveform zero-padded at the end to 1 s: (16000,) float32 in [-1, 1]."""
    path = clip.path if isinstance(clip, Clip) else Path(clip)
    rate, _ = audio.read_rate(path)
    if rate != SAMPLE_RATE:
        raise DataError(f"{path}: sample rate {rate} Hz, expected {SAMPLE_RATE}")
    wave = audio.read_audio(path, None, mono="require")
    if wave.size > CLIP_SAMPLES:
        raise DataError(f"{path}: {wave.size} samples, longer than 1 s ({CLIP_SAMPLES})")
    out = np.zeros(CLIP_SAMPLES, np.float32)
    out[: wave.size] = wave
    return out
