"""Layer features for probing: extracted once per (model, corpus rows) and cached on disk.

An `ItemSet` names a corpus's audio items and the rows to keep: `spans`, frame ranges of
an item, mean-pooled (utterances, segments, clips; a single frame is a span of one). The
cache folder is named by a hash of the model's weights and config, the items (ids, file
sizes and times) and the spans, so it is reused only when all match. It is written under
a temporary name and renamed when complete.

Cache folder: meta.json, pooled_<layer>.npy (rows, hidden) float32.
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

import numpy as np
import torch
from braintune import models
from braintune.errors import DataError
from braintune.io import temporary_path
from braintune.progress import tqdm

CACHE_VERSION = 2  # 2: spans only (single frames are spans of one frame)


@dataclass
class ItemSet:
    """Audio items and the rows to extract from them.

    name: corpus name (for the cache folder). fingerprints: one string per item that
    changes when its audio does. n_samples: per item. load(i) -> (samples,) float32 audio.
    spans: (rows, 3) int64 [item, first frame, end frame) to mean-pool.
    """

    name: str
    fingerprints: list[str]
    n_samples: np.ndarray
    load: Callable[[int], np.ndarray]
    spans: np.ndarray

    def key(self, model_identity: str) -> str:
        digest = hashlib.sha256(json.dumps([CACHE_VERSION, self.name, model_identity, self.fingerprints,
                                            self.n_samples.tolist()]).encode())
        digest.update(np.ascontiguousarray(self.spans, np.int64).tobytes())
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
    tmp = temporary_path(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _extract_into(tmp, model, items, batch_size, progress)
        (tmp / "meta.json").write_text(json.dumps({
            "key": key, "model_identity": model_id, "corpus": items.name, "version": CACHE_VERSION,
            "n_layers": model.config.num_hidden_layers + 1, "hidden": model.config.hidden_size,
            "rows": len(items.spans)}, indent=1))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished the same folder first
        shutil.rmtree(tmp, ignore_errors=True)
    return LayerFeatures(folder)


def _span_means(states: np.ndarray, first: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Means of frame ranges from float64 cumulative sums.

    states: (layers, frames, hidden); first, end: (spans,) -> (layers, spans, hidden) float32
    """
    sums = np.zeros((states.shape[0], states.shape[1] + 1, states.shape[2]))
    np.cumsum(states, axis=1, dtype=np.float64, out=sums[:, 1:])
    return ((sums[:, end] - sums[:, first]) / (end - first)[None, :, None]).astype(np.float32)


def _extract_into(tmp: Path, model, items: ItemSet, batch_size: int, progress: bool) -> None:
    """Run the model over the items and fill the arrays of a cache folder (not meta.json)."""
    n_layers = model.config.num_hidden_layers + 1
    hidden = model.config.hidden_size
    pooled = [np.lib.format.open_memmap(tmp / f"pooled_{k}.npy", "w+", np.float32, (len(items.spans), hidden))
              for k in range(n_layers)]
    rows_of = defaultdict(list)
    for row, item in enumerate(items.spans[:, 0]):
        rows_of[int(item)].append(row)
    needed = sorted(rows_of)
    bar = tqdm(total=len(needed), desc=f"features {items.name}", unit="item", disable=not progress)
    for batch in _batches(items.n_samples[needed], batch_size):
        batch = [needed[i] for i in batch]
        audio = [items.load(i) for i in batch]
        with torch.inference_mode():
            states = np.stack([h.float().cpu().numpy()
                               for h in models.hidden_states(model, torch.from_numpy(np.stack(audio)))], axis=1)
        n_frames = states.shape[2]  # states: (batch, layers, frames, hidden)
        if n_frames != models.num_frames(audio[0].size):
            raise DataError(f"{items.name}: model gave {n_frames} frames for {audio[0].size} samples, "
                            f"expected {models.num_frames(audio[0].size)} (hop 320, receptive field 400)")
        for b, item in enumerate(batch):
            rows = np.array(rows_of[item])
            means = _span_means(states[b], items.spans[rows, 1], items.spans[rows, 2])
            for k in range(n_layers):
                pooled[k][rows] = means[k]
        bar.update(len(batch))
    bar.close()
    for arr in pooled:
        arr.flush()
