"""3. Probing: the probing extraction (braintune.probing.features.extract) on clips and utterances,
and the CPU probe fits of one layer (each task's probe of braintune.probing.probes.PROBES)."""

from __future__ import annotations

import tempfile

import numpy as np
import torch

from braintune.data.audio import HOP, SAMPLE_RATE, num_frames

from gpu_parts.machine import peak_gib, piece, reset_peak, starts, timed
from gpu_parts.sizes import Measure, StudySizes


def _item_set(name: str, audio: np.ndarray, lengths: np.ndarray, picks_per_item: int | None, rng: np.random.Generator):
    """A probing ItemSet of pieces of `audio` (lengths in samples): each piece one mean-pooled span
    and `picks_per_item` single-frame spans drawn from it (None: all of its frames)."""
    from braintune.probing.features import ItemSet

    first = starts(audio, int(max(lengths)), len(lengths), rng)
    frames = [num_frames(int(n)) for n in lengths]
    spans = [(i, 0, t) for i, t in enumerate(frames)]
    for i, t in enumerate(frames):
        chosen = (np.arange(t) if picks_per_item is None
                  else np.sort(rng.choice(t, min(t, picks_per_item), replace=False)))
        spans += [(i, int(f), int(f) + 1) for f in chosen]
    return ItemSet(name, [f"{name}-{i}" for i in range(len(lengths))], np.asarray(lengths, np.int64),
                   lambda i: piece(audio, int(first[i]), int(lengths[i])), np.array(spans, np.int64).reshape(-1, 3))


def measure_probe_features(model, audio: np.ndarray, probe, measure: Measure, device: torch.device) -> dict:
    """Seconds of audio per second through the probing extraction (float32, like run_probes) for
    1 s clips and for utterances of distinct lengths; the model-identity hash each call starts
    with is timed apart (a fixed cost per corpus and cell). probe: the study's ProbeSettings."""
    from braintune.models import model_identity
    from braintune.probing.features import extract as extract_items

    _, hash_s = timed(device, lambda: model_identity(model))
    rng = np.random.default_rng(0)
    sets = {
        "clips": _item_set("clips", audio, np.full(measure.probe_clips, SAMPLE_RATE), 0, rng),
        "utterances": _item_set("utterances", audio, rng.integers(2 * SAMPLE_RATE, 9 * SAMPLE_RATE // 2,
                                                                  measure.probe_utterances),
                                probe.frames_per_utterance, rng),
    }
    out = {"identity_hash_s": hash_s, "batch_size": probe.batch_size}
    with tempfile.TemporaryDirectory(prefix="braintune-gpu-benchmark-") as tmp:
        warm_up = _item_set("warm-up", audio, np.array([SAMPLE_RATE, 3 * SAMPLE_RATE]), 2, rng)
        extract_items(model, warm_up, tmp, probe.batch_size, progress=False)  # librosa's first MFCC takes seconds
        reset_peak(device)
        for name, items in sets.items():
            _, seconds = timed(device, lambda: extract_items(model, items, tmp, probe.batch_size, progress=False))
            out[f"{name}_audio_s"] = float(items.n_samples.sum()) / SAMPLE_RATE
            out[f"{name}_rate"] = out[f"{name}_audio_s"] / max(seconds - hash_s, 1e-9)
        out["peak_gib"] = peak_gib(device)
    return out


def _continuous(n: int, hidden: int, outputs: int, rng: np.random.Generator):
    """Features (n, hidden) and real targets (n, outputs) read out of them, plus noise."""
    x = rng.standard_normal((n, hidden), dtype=np.float32)
    return x, x @ (0.05 * rng.standard_normal((hidden, outputs), dtype=np.float32)) + rng.standard_normal((n, outputs))


def _multilabel(n: int, hidden: int, outputs: int, rng: np.random.Generator):
    """Labels (n, outputs) int8, each on with probability 0.3, and features (n, hidden) that carry them."""
    y = (rng.random((n, outputs)) < 0.3).astype(np.int8)
    return rng.standard_normal((n, hidden), dtype=np.float32) + y @ (
        0.05 * rng.standard_normal((outputs, hidden), dtype=np.float32)), y


def _classes(n: int, hidden: int, outputs: int, rng: np.random.Generator):
    """Labels (n,) of `outputs` classes and features (n, hidden) shifted by a class mean."""
    y = rng.integers(0, outputs, n)
    return rng.standard_normal((n, hidden), dtype=np.float32) + 0.05 * rng.standard_normal(
        (outputs, hidden), dtype=np.float32)[y], y


SYNTHETIC = {"ridge": _continuous, "multilabel": _multilabel, "classifier": _classes}  # probes.PROBES name -> problem


def study_rows(probe, study: StudySizes) -> dict[str, tuple[tuple[int, int, int], int]]:
    """task -> ((fit, validation, test) rows, outputs) at the study's size, for the tasks braintune
    registers (probing.tasks); probe: the study's ProbeSettings."""
    from braintune.data.timit import PHONES_39, SENTENCE_TYPES
    from braintune.probing.tasks.mfcc import N_MFCC

    validation = round(study.timit_train * probe.validation_fraction)
    utterances = (study.timit_train - validation, validation, study.timit_test)
    frames = probe.frames_per_utterance or round(study.timit_seconds * SAMPLE_RATE / HOP)
    return {
        "mfcc": (tuple(u * frames for u in utterances), N_MFCC),
        "phonemes": (utterances, len(PHONES_39)),
        "sentence-type": (utterances, len(SENTENCE_TYPES)),
        "words": ((study.commands_train, study.commands_validation, study.commands_test), study.words),
    }


def measure_probe_fits(probe, study: StudySizes, hidden: int, fraction: float) -> dict:
    """CPU seconds of one layer's probe fits per task of `probe` (ProbeSettings), each task's own
    probe timed on `fraction` of the real rows (at least 200 per set) of synthetic features
    (rows, hidden), scaled linearly to the real rows."""
    from braintune.errors import ConfigError
    from braintune.probing.corpora import Split
    from braintune.probing.probes import PROBES
    from braintune.probing.tasks import REGISTRY

    real = study_rows(probe, study)
    rng = np.random.default_rng(0)
    out = {}
    for task in probe.tasks:
        kind = REGISTRY[task].probe
        if task not in real or kind not in SYNTHETIC:
            raise ConfigError(f"probe.tasks: the benchmark has no study size or synthetic problem for {task!r}")
        sizes, outputs = real[task]
        timed_sizes = tuple(max(200, round(fraction * n)) for n in sizes)
        x, y = SYNTHETIC[kind](sum(timed_sizes), hidden, outputs, rng)
        fit, val = timed_sizes[0], timed_sizes[0] + timed_sizes[1]
        split = Split(np.arange(fit), np.arange(fit, val), np.arange(val, len(x)))
        _, seconds = timed(torch.device("cpu"), lambda: PROBES[kind](x, y, split, 0))
        out[task] = {"rows_timed": sum(timed_sizes), "rows_real": sum(sizes), "seconds_timed": seconds,
                     "seconds_per_layer": seconds * sum(sizes) / sum(timed_sizes)}
    return out
