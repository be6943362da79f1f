"""The GPU benchmark's device clocks and peak memory, the machine's description, and its inputs:
models with random weights and a synthetic story."""

from __future__ import annotations

import gc
import shlex
import sys
import time

import numpy as np
import torch

from braintune.data.audio import to_samples
from braintune.machine import cpu_model  # noqa: F401 (named by gpu.py)

GIB = 1024**3
FAMILY_NAMES = {"wav2vec2": "wav2vec2-base", "hubert": "hubert-base"}  # family -> its base size's name


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, function):
    """(function(), wall seconds), the device synchronised before both clock readings."""
    synchronise(device)
    start = time.perf_counter()
    out = function()
    synchronise(device)
    return out, time.perf_counter() - start


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        gc.collect()  # tensors of earlier parts still referenced by cycles
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    """Peak GPU memory since the last reset_peak, GiB (None on the CPU)."""
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


def bf16_supported(device: torch.device) -> bool:
    return device.type != "cuda" or torch.cuda.is_bf16_supported()


def describe(device: torch.device) -> dict:
    import transformers

    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU: {cpu_model()}",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "cpu": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "command": shlex.join(["python", *sys.argv]),
    }


def encoder_config(family: str, tiny: bool):
    """The family's base-size architecture (transformers' default config), or braintune's tiny preset."""
    from braintune.models import FAMILIES, tiny_config

    config = tiny_config(family) if tiny else FAMILIES[family]()
    config.do_normalize = True
    return config


def encoder(family: str, tiny: bool, device: torch.device):
    """An encoder_config model with random weights (seed 0), eval mode, on `device`."""
    import transformers

    torch.manual_seed(0)
    return transformers.AutoModel.from_config(encoder_config(family, tiny)).to(device).eval()


def story_audio(seconds: float, kind: str) -> np.ndarray:
    """(samples,) float32 at 16 kHz: espeak-ng speech of random words (benchmarks/extract.py; at
    most 60 s synthesised, then repeated: synthesis is slower than the GPU), or noise."""
    if kind == "noise":
        return (0.1 * np.random.default_rng(0).standard_normal(to_samples(seconds))).astype(np.float32)
    from extract import speech  # benchmarks/extract.py, beside gpu.py

    return np.resize(speech(min(seconds, 60.0)), to_samples(seconds))


def starts(audio: np.ndarray, length: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random starts of `length`-sample pieces inside the story (at 0 if the story is shorter)."""
    return rng.integers(0, max(1, len(audio) - length + 1), n)


def piece(audio: np.ndarray, start: int, length: int) -> np.ndarray:
    """audio[start : start + length]; a story too short is repeated."""
    return audio[start : start + length] if start + length <= len(audio) else np.resize(audio, start + length)[start:]
