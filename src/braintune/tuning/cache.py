"""CNN-features step of brain-tuning: the frozen CNN's output per (audio window) pair,
computed per batch or read from a cache built once.

The CNN is frozen and sees the same windows every epoch, so its output is computed once.
Base models normalise the CNN's first layer over the whole input (group norm over time),
so the output for a window is not a slice of the output for its story: the cache holds
one exact entry per window. Size: pairs x channels x frames x 4 bytes (float32); for
wav2vec2-base / HuBERT-base (512 channels) and 10 s windows (499 frames) that is 1.02 MB
per window, e.g. 25 stories x ~350 rows = 8,750 windows -> ~9 GB. It lives on disk as a
.npy memory map in the run folder (the OS page cache keeps what fits in memory), is built
cooperatively by all processes (each computes every N-th window; the run folder must be
on a file system all processes see), and is reused by a resumed run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from braintune.errors import ConfigError, DataError
from braintune.io import size_text, write_atomic
from braintune.models import model_input
from braintune.progress import tqdm
from braintune.tuning.data import Pairs
from braintune.tuning.distributed import Process
from braintune.tuning.model import BrainTuner

log = logging.getLogger(__name__)


def cnn_shape(model: BrainTuner, window: int) -> tuple[int, int]:
    """(channels, frames) of the CNN's output for a window of `window` samples."""
    channels = model.backbone.config.conv_dim[-1]
    frames = window
    for kernel, stride in zip(model.backbone.config.conv_kernel, model.backbone.config.conv_stride):
        frames = (frames - kernel) // stride + 1
    return channels, frames


def fingerprint(model_source: str, pairs: Pairs) -> str:
    """Identity of a cache: the model's source and every window's story and end."""
    h = hashlib.sha256(model_source.encode())
    h.update(json.dumps(pairs.stories).encode())
    h.update(np.ascontiguousarray(pairs.story).tobytes())
    h.update(np.ascontiguousarray(pairs.end).tobytes())
    h.update(str(pairs.window).encode())
    return h.hexdigest()


def _open_cache(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The finished cache at `path`, read-only memory map; DataError if unreadable or misshapen."""
    try:
        cache = np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        reason = f"unreadable ({type(exc).__name__}: {exc})"
    else:
        if cache.shape == shape and cache.dtype == np.float32:
            return cache
        reason = f"holds {cache.dtype} {cache.shape}, expected float32 {shape}"
    raise DataError(f"{path}: CNN cache {reason}; delete {path.parent} to rebuild it (the run's other files stay)")


def build_cnn_cache(
    model: BrainTuner,
    pairs: Pairs,
    path: Path,
    model_source: str,
    process: Process,
    prepare,
    batch_size: int,
) -> np.ndarray:
    """The CNN output of every pair, read-only memory map. -> (pairs, channels, frames) float32

    prepare: waveforms (batch, samples) float32 numpy -> model input tensor on the device.
    Reuses `path` when its marker's fingerprint matches (a corrupt file is a DataError);
    a partial cache is rebuilt.
    """
    path = Path(path)
    marker = path.with_suffix(".json")
    key = fingerprint(model_source, pairs)
    shape = (len(pairs), *cnn_shape(model, pairs.window))
    if marker.is_file() and path.is_file() and _marker_key(marker) == key:
        return _open_cache(path, shape)
    nbytes = int(np.prod(shape)) * 4
    if process.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        free = shutil.disk_usage(path.parent).free
        if nbytes > free:
            raise ConfigError(
                f"{path}: the CNN cache needs {size_text(nbytes)}, {size_text(free)} free; "
                "free space or set cnn_cache: false"
            )
        log.info("caching the frozen CNN's output of %d windows in %s (%s)", len(pairs), path, size_text(nbytes))
        np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape).flush()
    process.barrier()
    out = np.load(path, mmap_mode="r+")
    mine = np.arange(process.rank, len(pairs), process.world_size)
    batches = [mine[i : i + batch_size] for i in range(0, len(mine), batch_size)]
    for batch in tqdm(batches, desc=f"CNN cache {path.stem}", unit="batch", disable=not process.is_main, leave=False):
        out[batch] = model.cnn(prepare(pairs.waveforms(batch))).float().cpu().numpy()
    out.flush()
    del out
    process.barrier()
    if process.is_main:
        write_atomic(marker, json.dumps({"fingerprint": key, "shape": list(shape)}))
    return np.load(path, mmap_mode="r")


def _marker_key(marker: Path) -> str | None:
    """The fingerprint a cache's marker holds (None if unreadable: the cache is rebuilt)."""
    try:
        return json.loads(marker.read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def cached_batch(cache: np.ndarray, indices: np.ndarray, device: torch.device) -> torch.Tensor:
    """Rows of the cache as one tensor. -> (len(indices), channels, frames) float32"""
    return torch.from_numpy(np.ascontiguousarray(cache[np.asarray(indices)])).to(device)


class CNNFeatures:
    """The frozen CNN's output for the pairs of one set (train or validation), in the model's
    dtype on the process's device: read from the cache at `cache_path` (built on first use,
    cooperatively by all processes), or computed per batch when `cache_path` is None."""

    def __init__(self, net: BrainTuner, pairs: Pairs, process: Process, model_source: str,
                 cache_path: Path | None, batch_size: int):
        self.net, self.pairs, self.device = net, pairs, process.device
        self.cache = None if cache_path is None else build_cnn_cache(
            net, pairs, cache_path, model_source, process, self.prepare, batch_size)

    def prepare(self, waveforms: np.ndarray) -> torch.Tensor:
        """Waveforms as the model's input. (batch, samples) float32 numpy -> tensor on the device"""
        return model_input(self.net.backbone, torch.from_numpy(waveforms).to(self.device, self.net.dtype))

    def __call__(self, indices: np.ndarray) -> torch.Tensor:
        """CNN features of the given pairs. -> (len(indices), channels, frames)"""
        if self.cache is not None:
            return cached_batch(self.cache, indices, self.device).to(self.net.dtype)
        return self.net.cnn(self.prepare(self.pairs.waveforms(indices))).to(self.net.dtype)
