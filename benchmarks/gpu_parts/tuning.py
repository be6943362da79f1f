"""2. Brain-tuning: windows per second of the study's tuning steps, full and with LoRA.

The steps are braintune.tuning's own, as tuning.recipe runs them: BrainTuner, make_optimizer and
make_scheduler, CNNFeatures (the on-disk CNN cache, or the CNN per micro-batch), train_epoch and
validate; only the data are synthetic (one batch of windows of the story, random targets).
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import torch

from braintune.data.audio import to_samples

from gpu_parts.machine import peak_gib, reset_peak, timed

SOURCE = "gpu-benchmark"  # the model source the CNN cache's fingerprint names


def synthetic_pairs(audio: np.ndarray, window_seconds: float, n_windows: int, n_voxels: int):
    """tuning.data.Pairs of one story: `n_windows` windows ending at random samples of `audio`
    (samples,), random float32 targets (n_windows, n_voxels)."""
    from braintune.tuning.data import Pairs

    rng = np.random.default_rng(0)
    window = to_samples(window_seconds)
    ends = rng.integers(min(window, len(audio)), len(audio) + 1, n_windows)
    return Pairs(stories=["story"], audio={"story": audio}, story=np.zeros(n_windows, np.int64), end=ends,
                 targets=rng.standard_normal((n_windows, n_voxels), dtype=np.float32), window=window)


def parameter_counts(net) -> dict:
    """Parameters of a BrainTuner: all of them, and those that train (backbone and head)."""
    return {"parameters": sum(p.numel() for p in net.parameters()),
            "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad)}


def measure_tuning(model, audio: np.ndarray, settings, n_voxels: int, steps: int, device: torch.device) -> dict:
    """Windows per second of the CNN cache build, of optimiser steps with and without the cache,
    and of the validation forward, at `settings` (a TuneSettings) on one batch of windows; peak GPU
    memory of each; the parameters that train. `model` (a backbone) is trained in place."""
    from braintune.models import freeze_feature_encoder
    from braintune.tuning.cache import CNNFeatures
    from braintune.tuning.distributed import Process
    from braintune.tuning.loop import train_epoch, validate
    from braintune.tuning.model import BrainTuner
    from braintune.tuning.schedule import make_optimizer, make_scheduler

    freeze_feature_encoder(model)
    net = BrainTuner(model, n_voxels).to(device)
    optimizer = make_optimizer(net, settings)
    scheduler = make_scheduler(optimizer, settings, steps_per_epoch=steps + 1)
    process = Process(device=device)
    batch = settings.batch_size
    pairs = synthetic_pairs(audio, settings.window_seconds, batch, n_voxels)

    out = {"windows_per_step": batch, "micro_batch": settings.micro_batch_size, "bf16": settings.bf16,
           "window_s": settings.window_seconds, "voxels": n_voxels, **parameter_counts(net)}
    with tempfile.TemporaryDirectory(prefix="braintune-gpu-benchmark-") as tmp:
        per_batch = CNNFeatures(net, pairs, process, SOURCE, None, settings.micro_batch_size)
        per_batch(np.arange(min(batch, settings.micro_batch_size)))  # warm-up
        reset_peak(device)
        cached, seconds = timed(device, lambda: CNNFeatures(net, pairs, process, SOURCE, Path(tmp) / "cnn.npy",
                                                             settings.micro_batch_size))
        out.update(cnn_windows_per_s=batch / seconds, cnn_peak_gib=peak_gib(device))
        for name, features in (("cache", cached), ("no_cache", per_batch)):
            train_epoch(net, optimizer, scheduler, features, pairs.targets, settings, process, epoch=0)  # warm-up
            reset_peak(device)
            _, seconds = timed(device, lambda: [train_epoch(net, optimizer, scheduler, features, pairs.targets,
                                                            settings, process, epoch) for epoch in range(1, steps + 1)])
            out[f"step_{name}_windows_per_s"] = steps * batch / seconds
            out[f"step_{name}_peak_gib"] = peak_gib(device)
        reset_peak(device)
        _, seconds = timed(device, lambda: validate(net, cached, pairs.targets, settings, process))
        out.update(validation_windows_per_s=batch / seconds, validation_peak_gib=peak_gib(device))
    return out


def lora_copy(model):
    """A copy of `model` with LoRA adapters (braintune.tuning.lora.add_lora, LoraSettings(): r 8,
    alpha 32, dropout 0.1 on q/k/v/out_proj; the base weights frozen), adapters seeded 0."""
    from braintune.tuning.lora import LoraSettings, add_lora

    torch.manual_seed(0)
    return add_lora(copy.deepcopy(model), LoraSettings())


def measure_lora_tuning(model, audio: np.ndarray, settings, n_voxels: int, steps: int, device: torch.device) -> dict:
    """measure_tuning of lora_copy(model), plus the LoRA settings; `model` is left untrained and
    waits on the CPU meanwhile (so the peak GPU memory counts one model)."""
    from braintune.settings import to_dict
    from braintune.tuning.lora import LoraSettings

    lora = lora_copy(model)
    model.cpu()
    try:
        return {**measure_tuning(lora, audio, settings, n_voxels, steps, device), "lora": to_dict(LoraSettings())}
    finally:
        del lora
        model.to(device)
