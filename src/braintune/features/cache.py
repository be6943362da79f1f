"""On-disk cache of step-level features: one folder per (model, settings), one .npz per story.

```
<cache_dir>/<model_tag>-<key>/settings.json     the settings (model identity included); key = their hash
<cache_dir>/<model_tag>-<key>/<story>.npz       times (steps,), features (layers, steps, hidden), audio_sha256
```
Files are written to a temporary name and renamed, so a killed run leaves only finished
stories behind and the next run resumes from them. A story is reused only if its audio is
unchanged (same SHA-256 of the 16 kHz waveform).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path

import numpy as np

from braintune.errors import DataError
from braintune.io import write_atomic, write_atomic_with

log = logging.getLogger(__name__)


def audio_sha256(audio: np.ndarray) -> str:
    """SHA-256 (hex) of a waveform's float32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()


class FeatureCache:
    """Step-level features of one model under one set of settings (a JSON-able dict)."""

    def __init__(self, cache_dir: str | os.PathLike, model_tag: str, settings: dict):
        self.settings = json.loads(json.dumps(settings, sort_keys=True))
        key = hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:16]
        self.folder = Path(cache_dir) / f"{model_tag}-{key}"

    def path(self, story: str) -> Path:
        return self.folder / f"{story}.npz"

    def load(self, story: str, audio_sha: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(times (steps,), features (layers, steps, hidden)) if cached for this audio, else None."""
        path = self.path(story)
        if not path.is_file():
            return None
        self._check_settings()
        try:
            with np.load(path) as npz:
                if str(npz["audio_sha256"]) != audio_sha:
                    log.info("%s: the story's audio changed; recomputing", path)
                    return None
                return npz["times"], npz["features"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            log.warning("%s: unreadable cache file (%s); recomputing", path, exc)
            return None

    def save(self, story: str, times: np.ndarray, features: np.ndarray, audio_sha: str) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        settings_file = self.folder / "settings.json"
        if settings_file.is_file():
            self._check_settings()
        else:
            write_atomic(settings_file, json.dumps(self.settings, indent=2, sort_keys=True))
        path = self.path(story)
        write_atomic_with(
            path,
            lambda tmp: np.savez(
                tmp, times=times.astype(np.float64), features=features.astype(np.float32), audio_sha256=np.array(audio_sha)
            ),
        )
        return path

    def _check_settings(self) -> None:
        settings_file = self.folder / "settings.json"
        try:
            found = json.loads(settings_file.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"{settings_file}: unreadable cache settings ({exc}); delete the folder {self.folder}") from exc
        if found != self.settings:
            raise DataError(f"{settings_file}: settings differ from this run's although their hash matches; delete {self.folder}")
