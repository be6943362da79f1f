"""Layer features for probing: extracted once per (model, corpus items) and cached on disk.

A corpus is described by an `ItemSet`: its audio items plus which rows to keep —
`spans` (frame ranges of an item, mean-pooled: utterances, segments, clips) and `picks`
(single frames, for the MFCC probe, which also gets the 13 MFCCs of each picked frame).
The cache folder is named by a hash of the model's weights and config, the items (ids,
file sizes and times), the spans and the picks, so it is reused only when all match. It
is written under a temporary name and renamed when complete.

Cache folder: meta.json, pooled_<layer>.npy (rows, hidden), frames_<layer>.npy
(picks, hidden), mfcc.npy (picks, 13); all float32.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import librosa
import numpy as np
import torch

from braintune import models
from braintune.errors import DataError
from braintune.progress import tqdm

CACHE_VERSION = 1
N_MFCC = 13


def mfcc_frames(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """13 MFCCs per model frame: (samples,) -> (1 + (samples - 400) // 320, 13) float32.

    Window 400 samples, hop 320, no centring: frame i covers samples [320 i, 320 i + 400),
    exactly the receptive field of the model's frame i.
    """
    m = librosa.feature.mfcc(y=np.asarray(audio, np.float32), sr=sample_rate, n_mfcc=N_MFCC, n_fft=400,
                             hop_length=320, center=False)
    return m.T.astype(np.float32)


@dataclass
class ItemSet:
    """Audio items and the rows to extract from them.

    name: corpus name (for the cache folder). fingerprints: one string per item that
    changes when its audio does. n_samples: per item. load(i) -> (samples,) float32 audio.
    spans: (rows, 3) int64 [item, first frame, end frame) to mean-pool.
    picks: (frames, 2) int64 [item, frame] to keep one by one.
    """

    name: str
    fingerprints: list[str]
    n_samples: np.ndarray
    load: Callable[[int], np.ndarray]
    spans: np.ndarray
    picks: np.ndarray

    def key(self, model_identity: str) -> str:
        digest = hashlib.sha256(json.dumps([CACHE_VERSION, self.name, model_identity, self.fingerprints,
                                            self.n_samples.tolist()]).encode())
        digest.update(np.ascontiguousarray(self.spans, np.int64).tobytes())
        digest.update(np.ascontiguousarray(self.picks, np.int64).tobytes())
        return digest.hexdigest()


class LayerFeatures:
    """Read access to a complete cache folder (arrays are memory-mapped)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.n_layers = int(self.meta["n_layers"])

    def pooled(self, layer: int) -> np.ndarray:
        """(span rows, hidden) float32: the mean over each span's frames."""
        return np.load(self.folder / f"pooled_{layer}.npy", mmap_mode="r")

    def frames(self, layer: int) -> np.ndarray:
        """(picks, hidden) float32: the picked frames."""
        return np.load(self.folder / f"frames_{layer}.npy", mmap_mode="r")

    def mfcc(self) -> np.ndarray:
        """(picks, 13) float32: MFCCs of the picked frames."""
        return np.load(self.folder / "mfcc.npy", mmap_mode="r")


def _batches(n_samples: np.ndarray, batch_size: int) -> list[list[int]]:
    """Consecutive items of equal length, at most batch_size together (no padding is ever needed)."""
    batches: list[list[int]] = []
    for i, n in enumerate(n_samples):
        if batches and len(batches[-1]) < batch_size and n_samples[batches[-1][0]] == n:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def extract(model, items: ItemSet, cache_dir: str | Path, batch_size: int = 16, progress: bool = True) -> LayerFeatures:
    """Features of every layer for `items`, from the cache when it matches, else computed and cached."""
    model_id = models.model_identity(model)
    key = items.key(model_id)
    folder = Path(cache_dir) / models.model_tag(model) / f"{items.name}-{key[:20]}"
    if (folder / "meta.json").is_file() and json.loads((folder / "meta.json").read_text()).get("key") == key:
        return LayerFeatures(folder)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _extract_into(tmp, model, items, batch_size, progress)
        (tmp / "meta.json").write_text(json.dumps({
            "key": key, "model_identity": model_id, "corpus": items.name, "version": CACHE_VERSION,
            "n_layers": model.config.num_hidden_layers + 1, "hidden": model.config.hidden_size,
            "rows": len(items.spans), "picks": len(items.picks)}, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished the same folder first
        shutil.rmtree(tmp, ignore_errors=True)
    return LayerFeatures(folder)


def _extract_into(tmp: Path, model, items: ItemSet, batch_size: int, progress: bool) -> None:
    """Run the model over the items and fill the arrays of a cache folder (not meta.json)."""
    n_layers = model.config.num_hidden_layers + 1
    hidden = model.config.hidden_size
    open_mm = np.lib.format.open_memmap
    pooled = [open_mm(tmp / f"pooled_{k}.npy", "w+", np.float32, (len(items.spans), hidden)) for k in range(n_layers)]
    frames = [open_mm(tmp / f"frames_{k}.npy", "w+", np.float32, (len(items.picks), hidden)) for k in range(n_layers)]
    mfcc = open_mm(tmp / "mfcc.npy", "w+", np.float32, (len(items.picks), N_MFCC))
    spans_of, picks_of = defaultdict(list), defaultdict(list)
    for row, (item, a, b) in enumerate(items.spans):
        spans_of[int(item)].append((row, int(a), int(b)))
    for row, (item, f) in enumerate(items.picks):
        picks_of[int(item)].append((row, int(f)))
    needed = sorted(set(spans_of) | set(picks_of))
    bar = tqdm(total=len(needed), desc=f"features {items.name}", unit="item", disable=not progress)
    for batch in _batches(items.n_samples[needed], batch_size):
        batch = [needed[i] for i in batch]
        audio = [items.load(i) for i in batch]
        with torch.inference_mode():
            states = [h.float().cpu().numpy() for h in models.hidden_states(model, torch.from_numpy(np.stack(audio)))]
        n_frames = states[0].shape[1]
        if n_frames != models.num_frames(audio[0].size):
            raise DataError(f"{items.name}: model gave {n_frames} frames for {audio[0].size} samples, "
                            f"expected {models.num_frames(audio[0].size)} (hop 320, receptive field 400)")
        for b, item in enumerate(batch):
            for row, first, end in spans_of[item]:
                for k in range(n_layers):
                    pooled[k][row] = states[k][b, first:end].mean(axis=0)
            if picks_of[item]:
                rows, idx = map(np.array, zip(*picks_of[item]))
                for k in range(n_layers):
                    frames[k][rows] = states[k][b, idx]
                mfcc[rows] = mfcc_frames(audio[b])[idx]
        bar.update(len(batch))
    bar.close()
    for arr in (*pooled, *frames, mfcc):
        arr.flush()
