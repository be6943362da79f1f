"""Cache of the frozen CNN's output, one entry per (audio window) pair.

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
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from braintune.errors import ConfigError
from braintune.progress import tqdm
from braintune.tuning.distributed import Process
from braintune.tuning.model import BrainTuner
from braintune.tuning.pairs import Pairs

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
    Reuses `path` when its fingerprint matches; a partial cache is rebuilt.
    """
    path = Path(path)
    marker = path.with_suffix(".json")
    key = fingerprint(model_source, pairs)
    shape = (len(pairs), *cnn_shape(model, pairs.window))
    if marker.is_file() and path.is_file() and json.loads(marker.read_text()).get("fingerprint") == key:
        return np.load(path, mmap_mode="r")
    nbytes = int(np.prod(shape)) * 4
    if process.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        free = shutil.disk_usage(path.parent).free
        if nbytes > free:
            raise ConfigError(
                f"{path}: the CNN cache needs {nbytes / 1e9:.1f} GB, {free / 1e9:.1f} GB free; "
                "free space or set cnn_cache: off"
            )
        log.info("caching the frozen CNN's output of %d windows in %s (%.2f GB)", len(pairs), path, nbytes / 1e9)
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
        tmp = marker.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"fingerprint": key, "shape": list(shape)}))
        os.replace(tmp, marker)
    return np.load(path, mmap_mode="r")


def cached_batch(cache: np.ndarray, indices: np.ndarray, device: torch.device) -> torch.Tensor:
    """Rows of the cache as one tensor. -> (len(indices), channels, frames) float32"""
    return torch.from_numpy(np.ascontiguousarray(cache[np.asarray(indices)])).to(device)
