"""The study's stages at real scale on one CUDA device, and the projected wall time of a study.

    python benchmarks/gpu.py --json gpu.json          # a CUDA machine: base-size models, the real sizes
    OMP_NUM_THREADS=1 python benchmarks/gpu.py --tiny  # any CPU: tiny models and sizes (tests/test_benchmarks.py)

Models are the wav2vec2-base and HuBERT-base architectures (transformers' default configs) with
random weights: nothing is downloaded. On synthetic data (espeak-ng speech of random words, or
noise) it times what the study runs, through braintune's own functions:

1. feature extraction, seconds of story per second: both schemes (braintune.features.extract,
   Scheme defaults) in bfloat16, and the study's `features` scheme if that differs; the fast
   schemes on a story of a training story's length, the reference on its first minute;
2. brain-tuning windows per second: optimiser steps at the study's `tune` settings (windows,
   batch via micro-batches, bf16 autocast, frozen CNN, Adam over the backbone and head groups,
   the lr schedule), CNN features read from a cache file or computed per micro-batch; plus the
   CNN cache build and the validation forward. braintune.tuning exposes no single-step function
   (the step is inline in tuning.train), so the step is written out here as tune() runs it;
3. probing: braintune.probing.features.extract on Speech-Commands-like 1 s clips (batched) and
   TIMIT-like 2-4.5 s utterances (one per batch, as TIMIT's lengths differ), and the CPU probe
   fits of one layer on synthetic features with a share of the real rows, scaled linearly;
4. ridge per layer: braintune.encoding.fit_encoding_model on random float32 data at 100,000
   voxels x 9,000 rows x 3,072 features, backend torch_cuda, with the study's alphas, folds and
   metric (configs/lebel2024.yaml: the authors' protocol: 3 bootstrap folds, "variance explained");
5. the projected wall time of the study config (default configs/lebel2024.yaml) on one GPU,
   stages run one after another, from these rates and the study sizes (StudySizes, flags).

Peak GPU memory (torch.cuda.max_memory_allocated) is reset before every measurement. A part
that fails (e.g. out of GPU memory) is reported in one line and the others still run; the exit
status is then 1. Not a test: tests/test_benchmarks.py runs --tiny so that the script keeps working.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import platform
import shlex
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from braintune.data.audio import HOP, SAMPLE_RATE, num_frames, to_samples
from braintune.errors import BraintuneError, ConfigError
from braintune.features import Scheme
from braintune.models import select_layers
from braintune.settings import add_arguments, from_arguments, from_mapping, to_dict

ROOT = Path(__file__).resolve().parents[1]
GIB = 1024**3
FAMILY_NAMES = {"wav2vec2": "wav2vec2-base", "hubert": "hubert-base"}


def _check_positive(settings) -> None:
    for f in dataclasses.fields(settings):
        if not getattr(settings, f.name) > 0:
            raise ConfigError(f"{f.name}: must be > 0, got {getattr(settings, f.name)!r}")


@dataclass(frozen=True)
class Measure:
    """What is timed. Defaults are the real scale (an estimated 4-7 min on an H100; not yet run on a
    GPU); --tiny starts from Measure.tiny()."""

    story_seconds: float = field(default=740.0, metadata={
        "help": "seconds of the synthetic story the fast schemes run on (a training story: 360 rows, ~740 s)"})
    reference_seconds: float = field(default=60.0, metadata={
        "help": "seconds from the story's start the reference runs on"})
    tune_steps: int = field(default=3, metadata={
        "help": "timed optimiser steps per tuning variant (after one warm-up)"})
    tune_voxels: int = field(default=30_000, metadata={
        "help": "outputs of the tuning head (the paper's tuning voxels, ceiling > 0.4: 18.5k-50.7k)"})
    ridge_voxels: int = field(default=100_000, metadata={
        "help": "voxels of the timed ridge; fewer than the study's are scaled linearly (an upper bound)"})
    ridge_rows: int = field(default=9_000, metadata={"help": "training rows of the timed ridge"})
    ridge_features: int = field(default=3_072, metadata={"help": "features of the timed ridge (768 x 4 delays)"})
    ridge_test_rows: int = field(default=291, metadata={"help": "test rows of the timed ridge"})
    probe_clips: int = field(default=2_048, metadata={"help": "1 s clips timed through the probing extraction"})
    probe_utterances: int = field(default=256, metadata={
        "help": "2-4.5 s utterances timed through the probing extraction"})
    probe_fit_fraction: float = field(default=0.25, metadata={
        "help": "share of each probe's real rows (at least 200) the probe fits are timed on, scaled linearly"})

    def __post_init__(self):
        _check_positive(self)
        if self.probe_fit_fraction > 1:
            raise ConfigError(f"probe_fit_fraction: at most 1, got {self.probe_fit_fraction}")

    @classmethod
    def tiny(cls) -> Measure:
        return cls(story_seconds=4.0, reference_seconds=3.0, tune_steps=1, tune_voxels=50, ridge_voxels=500,
                   ridge_rows=300, ridge_features=256, ridge_test_rows=40, probe_clips=16, probe_utterances=4,
                   probe_fit_fraction=0.01)


@dataclass(frozen=True)
class StudySizes:
    """The sizes of the LeBel et al. (2024) study assumed by the projection (not read from data).

    A story with R response rows has about 2 R + 20 s of audio (row j sits at 2 j + 11 s after
    sound onset; the files hold the acquired TRs minus 20). One tuning window per training row
    per epoch, one per validation row per validation (each epoch and before the first).
    """

    train_stories: int = field(default=25, metadata={"help": "stories that train (the paper's split)"})
    train_rows: int = field(default=9_000, metadata={"help": "response rows of the training stories together"})
    test_rows: int = field(default=291, metadata={"help": "rows of the test story (wheretheressmoke)"})
    validation_rows: int = field(default=291, metadata={"help": "rows of the tuning validation story (stagefright)"})
    voxels: int = field(default=100_000, metadata={"help": "voxels per participant (81k-109k in ds003020)"})
    timit_train: int = field(default=4_620, metadata={"help": "TIMIT TRAIN utterances"})
    timit_test: int = field(default=1_680, metadata={"help": "TIMIT TEST utterances"})
    timit_seconds: float = field(default=3.1, metadata={"help": "mean TIMIT utterance length, seconds"})
    commands_train: int = field(default=84_843, metadata={"help": "Speech Commands v0.02 training clips"})
    commands_validation: int = field(default=9_981, metadata={"help": "Speech Commands validation clips"})
    commands_test: int = field(default=11_005, metadata={"help": "Speech Commands test clips"})
    words: int = field(default=35, metadata={"help": "Speech Commands words (classes)"})

    def __post_init__(self):
        _check_positive(self)

    def story_audio_seconds(self) -> float:
        """Audio of the training stories and the test story, which alignment extracts features of."""
        return 2 * self.train_rows + 20 * self.train_stories + 2 * self.test_rows + 20


# ---------------------------------------------------------------------------------------------- device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(device: torch.device, function):
    """(function(), wall seconds), the device synchronised before both clock readings."""
    _sync(device)
    start = time.perf_counter()
    out = function()
    _sync(device)
    return out, time.perf_counter() - start


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        gc.collect()  # tensors of earlier parts still referenced by cycles
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float | None:
    """Peak GPU memory since the last _reset_peak, GiB (None on the CPU)."""
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else None


def bf16_supported(device: torch.device) -> bool:
    return device.type != "cuda" or torch.cuda.is_bf16_supported()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe(device: torch.device) -> dict:
    import transformers

    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU: {_cpu_model()}",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "cpu": _cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "command": shlex.join(["python", *sys.argv]),
    }


# ---------------------------------------------------------------------------------------------- inputs


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
    sys.path.insert(0, str(Path(__file__).parent))
    from extract import speech  # benchmarks/extract.py

    return np.resize(speech(min(seconds, 60.0)), to_samples(seconds))


def _starts(audio: np.ndarray, length: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random starts of `length`-sample pieces inside the story (at 0 if the story is shorter)."""
    return rng.integers(0, max(1, len(audio) - length + 1), n)


def _piece(audio: np.ndarray, start: int, length: int) -> np.ndarray:
    """audio[start : start + length]; a story too short is repeated."""
    return audio[start : start + length] if start + length <= len(audio) else np.resize(audio, start + length)[start:]


# ---------------------------------------------------------------------------------------------- 1. extraction


def measure_extraction(model, audio: np.ndarray, schemes: dict, reference_seconds: float,
                       device: torch.device) -> list[dict]:
    """Seconds of story per second of each scheme, after a 2 s warm-up: the reference on the story's
    first `reference_seconds`, the others on the whole story (its start, where windows are
    shorter, included)."""
    from braintune.features import extract

    rows = []
    for label, scheme in schemes.items():
        story = audio[: to_samples(reference_seconds)] if scheme.scheme == "reference" else audio
        extract(model, audio[: 2 * SAMPLE_RATE], scheme, progress=False)
        _reset_peak(device)
        _, seconds = _timed(device, lambda: extract(model, story, scheme, progress=False))
        rows.append({"scheme": label, "settings": to_dict(scheme), "story_s": len(story) / SAMPLE_RATE,
                     "seconds": seconds, "rate": len(story) / SAMPLE_RATE / seconds, "peak_gib": _peak_gib(device)})
    return rows


# ---------------------------------------------------------------------------------------------- 2. brain-tuning


def measure_tuning(model, audio: np.ndarray, settings, n_voxels: int, steps: int, device: torch.device) -> dict:
    """Windows per second of the CNN cache build, of optimiser steps with and without the cache,
    and of the validation forward, at `settings` (a TuneSettings); peak GPU memory of each."""
    from braintune.models import freeze_feature_encoder, model_input
    from braintune.tuning.cache import cached_batch, cnn_shape
    from braintune.tuning.model import BrainTuner
    from braintune.tuning.schedule import make_scheduler

    freeze_feature_encoder(model)
    net = BrainTuner(model, n_voxels).to(device)
    trainable = [p for p in net.backbone.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam([{"params": trainable, "lr": settings.backbone_lr},
                                  {"params": list(net.head.parameters()), "lr": settings.head_lr}])
    scheduler = make_scheduler(optimizer, settings, steps_per_epoch=2 * (steps + 1))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.bf16)
    window, batch = to_samples(settings.window_seconds), settings.batch_size
    rng = np.random.default_rng(0)
    waves = np.stack([_piece(audio, int(s), window) for s in _starts(audio, window, batch, rng)])
    targets = torch.from_numpy(rng.standard_normal((batch, n_voxels), dtype=np.float32))
    size = settings.micro_batch_size
    micro = [np.arange(m, min(m + size, batch)) for m in range(0, batch, size)]

    def cnn(idx):
        return net.cnn(model_input(net.backbone, torch.from_numpy(waves[idx]).to(device))).float()

    def step(features):
        """One optimiser step over the batch, as braintune.tuning.train runs it."""
        net.train()
        for idx in micro:
            x = features(idx)
            with autocast:
                prediction = net(x)
            per_pair = ((prediction.float() - targets[idx].to(device)) ** 2).mean(dim=1)
            (per_pair.sum() / batch).backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    def validate(features):
        net.eval()
        with torch.no_grad(), autocast:
            for idx in micro:
                net(features(idx)).double().cpu()

    out = {"windows_per_step": batch, "micro_batch": settings.micro_batch_size, "bf16": settings.bf16,
           "window_s": settings.window_seconds, "voxels": n_voxels}
    with tempfile.TemporaryDirectory(prefix="braintune-gpu-benchmark-") as tmp:
        cache = np.lib.format.open_memmap(Path(tmp) / "cnn.npy", mode="w+", dtype=np.float32,
                                          shape=(batch, *cnn_shape(net, window)))

        def build():
            for idx in micro:
                cache[idx] = cnn(idx).cpu().numpy()

        cnn(micro[0])  # warm-up
        _reset_peak(device)
        _, seconds = _timed(device, build)
        out.update(cnn_windows_per_s=batch / seconds, cnn_peak_gib=_peak_gib(device))
        cache.flush()
        cache = np.load(Path(tmp) / "cnn.npy", mmap_mode="r")
        variants = {"cache": lambda idx: cached_batch(cache, idx, device), "no_cache": cnn}
        for name, features in variants.items():
            step(features)  # warm-up
            _reset_peak(device)
            _, seconds = _timed(device, lambda: [step(features) for _ in range(steps)])
            out[f"step_{name}_windows_per_s"] = steps * batch / seconds
            out[f"step_{name}_peak_gib"] = _peak_gib(device)
        _reset_peak(device)
        _, seconds = _timed(device, lambda: validate(variants["cache"]))
        out.update(validation_windows_per_s=batch / seconds, validation_peak_gib=_peak_gib(device))
    return out


# ---------------------------------------------------------------------------------------------- 3. probing


def _item_set(name: str, audio: np.ndarray, lengths: np.ndarray, picks_per_item: int | None, rng: np.random.Generator):
    """A probing ItemSet of pieces of `audio` (lengths in samples): each piece one mean-pooled span
    and `picks_per_item` single-frame spans drawn from it (None: all of its frames)."""
    from braintune.probing.features import ItemSet

    starts = _starts(audio, int(max(lengths)), len(lengths), rng)
    frames = [num_frames(int(n)) for n in lengths]
    spans = [(i, 0, t) for i, t in enumerate(frames)]
    for i, t in enumerate(frames):
        chosen = np.arange(t) if picks_per_item is None else np.sort(rng.choice(t, min(t, picks_per_item), replace=False))
        spans += [(i, int(f), int(f) + 1) for f in chosen]
    return ItemSet(name, [f"{name}-{i}" for i in range(len(lengths))], np.asarray(lengths, np.int64),
                   lambda i: _piece(audio, int(starts[i]), int(lengths[i])), np.array(spans, np.int64).reshape(-1, 3))


def measure_probe_features(model, audio: np.ndarray, probe, measure: Measure, device: torch.device) -> dict:
    """Seconds of audio per second through the probing extraction (float32, like run_probes) for
    1 s clips and for utterances of distinct lengths; the model-identity hash each call starts
    with is timed apart (a fixed cost per corpus and cell)."""
    from braintune.models import model_identity
    from braintune.probing.features import extract as extract_items

    _, hash_s = _timed(device, lambda: model_identity(model))
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
        _reset_peak(device)
        for name, items in sets.items():
            _, seconds = _timed(device, lambda: extract_items(model, items, tmp, probe.batch_size, progress=False))
            out[f"{name}_audio_s"] = float(items.n_samples.sum()) / SAMPLE_RATE
            out[f"{name}_rate"] = out[f"{name}_audio_s"] / max(seconds - hash_s, 1e-9)
        out["peak_gib"] = _peak_gib(device)
    return out


def _probe_problem(task: str, sizes: tuple[int, int, int], hidden: int, n_classes: int, rng: np.random.Generator):
    """Synthetic float32 features (rows, hidden) with learnable targets for `task`, and its Split."""
    from braintune.probing.probes import Split

    n = sum(sizes)
    noise = rng.standard_normal((n, hidden), dtype=np.float32)
    if task == "mfcc":
        targets = noise @ (0.05 * rng.standard_normal((hidden, 13), dtype=np.float32)) + rng.standard_normal((n, 13))
    elif task == "phonemes":
        targets = (rng.random((n, n_classes)) < 0.3).astype(np.int8)
        noise += targets @ (0.05 * rng.standard_normal((n_classes, hidden), dtype=np.float32))
    else:
        targets = rng.integers(0, n_classes, n)
        noise += 0.05 * rng.standard_normal((n_classes, hidden), dtype=np.float32)[targets]
    fit, val = sizes[0], sizes[0] + sizes[1]
    return noise, targets, Split(np.arange(fit), np.arange(fit, val), np.arange(val, n))


def measure_probe_fits(probe, study: StudySizes, hidden: int, fraction: float) -> dict:
    """CPU seconds of one layer's probe fits per task, timed on `fraction` of the real rows (at
    least 200 per set) of synthetic features, scaled linearly to the real rows."""
    from braintune.data.timit import PHONES_39
    from braintune.probing.probes import classifier_probe, multilabel_probe, ridge_probe

    validation = round(study.timit_train * probe.validation_fraction)
    utterances = (study.timit_train - validation, validation, study.timit_test)
    frames = probe.frames_per_utterance or round(study.timit_seconds * SAMPLE_RATE / HOP)
    real = {
        "mfcc": (tuple(u * frames for u in utterances), 13),
        "phonemes": (utterances, len(PHONES_39)),
        "sentence-type": (utterances, 3),
        "words": ((study.commands_train, study.commands_validation, study.commands_test), study.words),
    }
    run = {"mfcc": ridge_probe, "phonemes": multilabel_probe, "sentence-type": classifier_probe,
           "words": classifier_probe}
    rng = np.random.default_rng(0)
    out = {}
    for task in probe.tasks:
        sizes, n_classes = real[task]
        timed = tuple(max(200, round(fraction * n)) for n in sizes)
        x, y, split = _probe_problem(task, timed, hidden, n_classes, rng)
        _, seconds = _timed(torch.device("cpu"), lambda: run[task](x, y, split))
        out[task] = {"rows_timed": sum(timed), "rows_real": sum(sizes), "seconds_timed": seconds,
                     "seconds_per_layer": seconds * sum(sizes) / sum(timed)}
    return out


# ---------------------------------------------------------------------------------------------- 4. ridge


def random_problem(voxels: int, rows: int, features: int, test_rows: int, device: torch.device):
    """Random float32 (X (rows, features), Y (rows, voxels), X_test, Y_test): each voxel a random
    read-out of the features plus noise, drawn on `device` in blocks of 10,000 voxels."""
    generator = torch.Generator(device=device).manual_seed(0)
    X = torch.randn(rows + test_rows, features, generator=generator, device=device)
    Y = np.empty((rows + test_rows, voxels), dtype=np.float32)
    for start in range(0, voxels, 10_000):
        n = min(10_000, voxels - start)
        W = torch.randn(features, n, generator=generator, device=device) / math.sqrt(features)
        noise = torch.randn(rows + test_rows, n, generator=generator, device=device)
        Y[:, start : start + n] = (X @ W + 2 * noise).cpu().numpy()
    X = X.cpu().numpy()
    return X[:rows], Y[:rows], X[rows:], Y[rows:]


def measure_ridge(align, measure: Measure, n_stories: int, device: torch.device) -> dict:
    """Seconds of one layer's fit_encoding_model at `measure`'s size by the study's `align` settings."""
    from braintune.encoding import chunk_folds, fit_encoding_model, story_folds

    backend = "torch_cuda" if device.type == "cuda" else "numpy"
    X, Y, X_test, Y_test = random_problem(measure.ridge_voxels, measure.ridge_rows, measure.ridge_features,
                                          measure.ridge_test_rows, device)
    rules = align.rules
    if rules.folds == "stories":
        folds = story_folds([len(a) for a in np.array_split(np.arange(measure.ridge_rows), n_stories)], align.n_folds)
    else:
        folds = chunk_folds(measure.ridge_rows)
    _reset_peak(device)
    result, seconds = _timed(device, lambda: fit_encoding_model(
        X, Y, folds, X_test, Y_test, align.alphas, metric=rules.metric, voxel_batch=align.voxel_batch, backend=backend))
    return {"voxels": measure.ridge_voxels, "rows": measure.ridge_rows, "features": measure.ridge_features,
            "test_rows": measure.ridge_test_rows, "alphas": len(align.alphas), "folds": len(folds),
            "fold_kind": rules.folds, "metric": rules.metric, "voxel_batch": align.voxel_batch, "backend": backend,
            "seconds": seconds, "peak_gib": _peak_gib(device), "median_test_r": float(np.median(result.r))}


# ---------------------------------------------------------------------------------------------- 5. projection


def project(cfg, study: StudySizes, results: dict, n_layers: int, n_features: int) -> tuple[list[dict], list[str]]:
    """Per stage of the study: cells, seconds per cell (mean over the measured models), total
    seconds; and notes where a measurement was not at the study's size.

    Every stage of the grid runs (lebel2024's `stages` are all of them), one after another on one
    GPU. n_layers: layers aligned and probed per model; n_features: ridge features per layer
    (hidden size x delays).
    """
    tune, scheme = cfg.tune_settings(), cfg.features
    n_models, n_participants = len(cfg.models), len(cfg.participants)
    ridge = results["ridge"]
    timit_s = (study.timit_train + study.timit_test) * study.timit_seconds
    clips = study.commands_train + study.commands_validation + study.commands_test
    notes = []
    if ridge["voxels"] != study.voxels:
        notes.append(f"ridge timed at {ridge['voxels']:,} voxels, scaled linearly to {study.voxels:,}")
    if (ridge["rows"], ridge["features"]) != (study.train_rows, n_features):
        notes.append(f"ridge timed at {ridge['rows']:,} rows x {ridge['features']:,} features, not the study's "
                     f"{study.train_rows:,} x {n_features:,}: its rows are not the study's")

    def mean_over_models(seconds_of) -> float:
        return float(np.mean([seconds_of(model) for model in results["tuning"]]))

    def features_s(model: str) -> float:
        row = next(r for r in results["extraction"][model] if r["settings"] == to_dict(scheme))
        return study.story_audio_seconds() / row["rate"]

    def tune_s(part: str):
        def seconds(model: str) -> float:
            t = results["tuning"][model]
            if part == "cache":
                return (study.train_rows + study.validation_rows) / t["cnn_windows_per_s"] if tune.cnn_cache else 0.0
            if part == "train":
                step = "step_cache" if tune.cnn_cache else "step_no_cache"
                return tune.epochs * study.train_rows / t[f"{step}_windows_per_s"]
            per_window = 1 / t["validation_windows_per_s"] + (0 if tune.cnn_cache else 1 / t["cnn_windows_per_s"])
            return (tune.epochs + 1) * study.validation_rows * per_window
        return seconds

    def probe_features_s(model: str) -> float:
        p = results["probe_features"][model]
        return 2 * p["identity_hash_s"] + timit_s / p["utterances_rate"] + clips / p["clips_rate"]

    tuned = n_models * n_participants
    stages = [
        ("tune: CNN cache", tuned, mean_over_models(tune_s("cache")),
         f"{study.train_rows + study.validation_rows:,} windows" if tune.cnn_cache else "off (tune.cnn_cache: false)"),
        ("tune: training", tuned, mean_over_models(tune_s("train")),
         f"{tune.epochs} epochs x {study.train_rows:,} windows"),
        ("tune: validation", tuned, mean_over_models(tune_s("validation")),
         f"{tune.epochs + 1} x {study.validation_rows:,} windows"),
        ("align: features, pretrained", n_models, mean_over_models(features_s),
         f"{study.story_audio_seconds() / 3600:.2f} h of stories, {scheme.scheme} {scheme.dtype}; once per model"),
        ("align: features, tuned", tuned, mean_over_models(features_s), "the same stories, each tuned model"),
        ("align: ridge", 2 * tuned, n_layers * ridge["seconds"] * study.voxels / ridge["voxels"],
         f"{n_layers} layers x {study.voxels:,} voxels; pretrained and tuned"),
        ("probe: features", n_models + tuned, mean_over_models(probe_features_s),
         f"{timit_s / 3600:.1f} h of TIMIT + {clips:,} clips of 1 s; pretrained and tuned"),
        ("probe: fits (CPU)", n_models + tuned,
         n_layers * sum(task["seconds_per_layer"] for task in results["probe_fits"].values()),
         f"{n_layers} layers x {len(results['probe_fits'])} tasks"),
    ]
    rows = [{"stage": s, "cells": c, "per_cell_s": p, "total_s": c * p, "what": w} for s, c, p, w in stages]
    rows.append({"stage": "total", "cells": None, "per_cell_s": None, "total_s": sum(r["total_s"] for r in rows),
                 "what": f"{n_models} models x {n_participants} participants, one GPU, stages in sequence"})
    return rows, notes


# ---------------------------------------------------------------------------------------------- printing


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, scale in (("h", 3600), ("min", 60)):
        if seconds >= 2 * scale:
            return f"{seconds / scale:.1f} {unit}"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.0f} s"


def _rate(value: float) -> str:
    """Three significant digits (whole numbers from 1,000 up)."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _gib(value: float | None) -> str:
    return "n/a (CPU)" if value is None else f"{value:.2f}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def print_extraction(results: dict) -> None:
    print("\n## 1. Feature extraction: seconds of story per second (after a 2 s warm-up)\n")
    rows = []
    for model, measured in results.items():
        reference = next(r["rate"] for r in measured if r["scheme"] == "reference")
        rows += [[model, r["scheme"], r["settings"]["dtype"], f"{r['story_s']:g}", _rate(r["rate"]),
                  f"{r['rate'] / reference:.1f}", _gib(r["peak_gib"])] for r in measured]
    print(_table(["model", "scheme", "dtype", "story s", "s of story per s", "x reference", "peak GPU GiB"], rows))


def print_tuning(results: dict) -> None:
    first = next(iter(results.values()))
    print(f"\n## 2. Brain-tuning: windows per second ({first['window_s']:g} s windows, {first['windows_per_step']} per "
          f"optimiser step in micro-batches of {first['micro_batch']}, bf16 autocast {first['bf16']}, frozen CNN, "
          f"Adam over backbone and head, {first['voxels']:,} voxels)\n")
    parts = ("cnn", "step_cache", "step_no_cache", "validation")
    print(_table(["model", "CNN cache build", "step, CNN cached", "step, CNN per batch", "validation",
                  "peak GPU GiB (same order)"],
                 [[model, *(_rate(t[f"{p}_windows_per_s"]) for p in parts),
                   _gib(None) if t["cnn_peak_gib"] is None else " / ".join(_gib(t[f"{p}_peak_gib"]) for p in parts)]
                  for model, t in results.items()]))


def print_probing(features: dict, fits: dict | None) -> None:
    print("\n## 3. Probing\n")
    if features:
        first = next(iter(features.values()))
        print("Feature extraction (float32): seconds of audio per second, 1 s clips in batches of "
              f"{first['batch_size']}, 2-4.5 s utterances one per batch; the model-identity hash apart\n")
        print(_table(["model", "clips", "utterances", "identity hash s", "peak GPU GiB"],
                     [[m, _rate(p["clips_rate"]), _rate(p["utterances_rate"]), f"{p['identity_hash_s']:.2f}",
                       _gib(p["peak_gib"])] for m, p in features.items()]))
    if fits:
        print(f"\nProbe fits of one layer on the CPU ({torch.get_num_threads()} torch threads): synthetic features, "
              "timed on a share of the rows, scaled linearly\n")
        print(_table(["task", "rows timed", "rows real", "s timed", "s per layer (scaled)"],
                     [[t, f"{f['rows_timed']:,}", f"{f['rows_real']:,}", f"{f['seconds_timed']:.2f}",
                       f"{f['seconds_per_layer']:.1f}"] for t, f in fits.items()]))


def print_ridge(r: dict) -> None:
    print(f"\n## 4. Ridge per layer ({r['voxels']:,} voxels x {r['rows']:,} rows x {r['features']:,} features, "
          f"float32, backend {r['backend']}, {r['alphas']} alphas, {r['folds']} folds by {r['fold_kind']}, "
          f"metric {r['metric']}, voxel batch {r['voxel_batch']:,})\n")
    print(_table(["seconds per layer", "peak GPU GiB", "median test r"],
                 [[f"{r['seconds']:.2f}", _gib(r["peak_gib"]), f"{r['median_test_r']:.3f}"]]))


def print_projection(rows: list[dict], notes: list[str], config: Path, tiny: bool) -> None:
    print(f"\n## 5. Projected wall time of {config.name} on one GPU\n")
    if tiny:
        print("--tiny: rates of tiny models on small problems, NOT a projection of the study\n")
    print(_table(["stage", "cells", "per cell", "total", "what"],
                 [[r["stage"], r["cells"] or "", _duration(r["per_cell_s"]), _duration(r["total_s"]), r["what"]]
                  for r in rows]))
    for note in notes:
        print(f"note: {note}")


# ---------------------------------------------------------------------------------------------- main


def load_study(path: Path, overrides: list[str], tiny: bool):
    """The study config (its settings owners; data folders are not needed), with `overrides`;
    --tiny shrinks the tuning windows and batch."""
    from braintune.study.config import StudyConfig, apply_overrides

    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the study config ({exc})") from None
    tiny_overrides = ["tune.window_seconds=1", "tune.batch_size=4", "tune.micro_batch_size=2"] if tiny else []
    return from_mapping(StudyConfig, apply_overrides(raw, tiny_overrides + list(overrides)))


def _attempt(name: str, failures: list[str], function):
    """function(), or None after a one-line report (out of GPU memory: with what to lower)."""
    try:
        return function()
    except torch.OutOfMemoryError as exc:
        message = (f"{name}: out of GPU memory ({str(exc).splitlines()[0]}); lower the sizes, e.g. "
                   "--set tune.micro_batch_size=8 align.voxel_batch=4096, or --ridge-voxels 20000")
    except (BraintuneError, ImportError, OSError) as exc:
        message = f"{name}: {type(exc).__name__}: {exc}"
    except Exception as exc:  # a benchmark on a lent GPU: report it, keep measuring the other parts
        traceback.print_exc()
        message = f"{name}: {type(exc).__name__}: {exc}"
    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()
    print(f"FAILED {message}", flush=True)
    failures.append(message)
    return None


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny models and sizes (default device: cpu)")
    parser.add_argument("--device", help="torch device (default: cuda; cpu with --tiny)")
    parser.add_argument("--families", nargs="+", default=list(FAMILY_NAMES), choices=list(FAMILY_NAMES))
    parser.add_argument("--audio", choices=("speech", "noise"), default="speech",
                        help="the synthetic story (default: speech)")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "lebel2024.yaml", help="the study to project")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="overrides of the study config, e.g. tune.micro_batch_size=8")
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    add_arguments(parser, Measure)
    add_arguments(parser, StudySizes)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        device = torch.device(args.device or ("cpu" if args.tiny else "cuda"))
    except RuntimeError as exc:
        print(f"benchmarks/gpu.py: --device {args.device}: {exc}", file=sys.stderr)
        return 2
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"benchmarks/gpu.py: torch {torch.__version__} sees no CUDA device; on a CPU, run with --tiny "
              "(tiny models and sizes) or --device cpu (the real sizes: hours)", file=sys.stderr)
        return 2
    try:
        measure = from_arguments(Measure, args, base=Measure.tiny() if args.tiny else Measure())
        study = from_arguments(StudySizes, args)
        cfg = load_study(args.config, args.overrides, args.tiny)
        config = encoder_config(args.families[0], args.tiny)
        hidden, n_layers = config.hidden_size, len(select_layers(cfg.layers, config.num_hidden_layers + 1))
    except BraintuneError as exc:
        print(f"benchmarks/gpu.py: {exc}", file=sys.stderr)
        return 2
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # himalaya's torch_cuda backend computes on the current device
    import transformers

    transformers.logging.set_verbosity_error()
    dtype = "bfloat16" if bf16_supported(device) else "float32"
    tune = dataclasses.replace(cfg.tune_settings(), bf16=cfg.tune.bf16 and dtype == "bfloat16")
    schemes = {"reference": Scheme("reference", dtype=dtype), "fast": Scheme("fast", dtype=dtype)}
    if cfg.features not in schemes.values():
        schemes["study"] = cfg.features

    meta = describe(device)
    print("# braintune GPU benchmark" + (" (--tiny)" if args.tiny else ""))
    print(f"device: {meta['device']}; torch {meta['torch']} (CUDA {meta['cuda']}); "
          f"transformers {meta['transformers']}; CPU: {meta['cpu']}, {meta['torch_threads']} torch threads")
    print(f"command: {meta['command']}")
    if dtype != "bfloat16":
        print("note: this GPU has no bfloat16: extraction and tuning run in float32")
    names = {family: f"tiny:{family}" if args.tiny else FAMILY_NAMES[family] for family in args.families}
    print(f"models: {', '.join(names.values())} ({'presets' if args.tiny else 'architectures'}), random weights; "
          f"story: {measure.story_seconds:g} s of {args.audio}", flush=True)

    failures: list[str] = []
    results: dict = {"meta": meta, "measure": to_dict(measure), "study_sizes": to_dict(study),
                     "config": str(args.config), "extraction": {}, "tuning": {}, "probe_features": {}}
    audio = _attempt("synthetic story (--audio noise needs no espeak-ng)", failures,
                     lambda: story_audio(measure.story_seconds, args.audio))
    for family, name in names.items() if audio is not None else []:
        model = _attempt(f"{name}: model", failures, lambda: encoder(family, args.tiny, device))
        if model is None:
            continue
        for key, function in (
            ("extraction", lambda: measure_extraction(model, audio, schemes, measure.reference_seconds, device)),
            ("probe_features", lambda: measure_probe_features(model, audio, cfg.probe, measure, device)),
            ("tuning", lambda: measure_tuning(model, audio, tune, measure.tune_voxels, measure.tune_steps, device)),
        ):  # tuning last: it trains the model
            value = _attempt(f"{name}: {key}", failures, function)
            if value is not None:
                results[key][name] = value
        del model
        _reset_peak(device)
        print(f"measured {name}", flush=True)
    if results["extraction"]:
        print_extraction(results["extraction"])
    if results["tuning"]:
        print_tuning(results["tuning"])
    results["probe_fits"] = _attempt("probe fits", failures,
                                     lambda: measure_probe_fits(cfg.probe, study, hidden, measure.probe_fit_fraction))
    print_probing(results["probe_features"], results.get("probe_fits"))
    sys.stdout.flush()
    results["ridge"] = _attempt("ridge", failures,
                                lambda: measure_ridge(cfg.align, measure, study.train_stories, device))
    if results["ridge"]:
        print_ridge(results["ridge"])
    if not failures:
        rows, notes = project(cfg, study, results, n_layers, hidden * len(cfg.align.delays))
        if device.type == "cuda" and cfg.align.backend not in ("torch_cuda", "auto"):
            notes.append(f"the ridge rows assume align.backend=torch_cuda ({args.config.name} has {cfg.align.backend})")
        results["projection"], results["projection_notes"] = rows, notes
        print_projection(rows, notes, args.config, args.tiny)
    else:
        print("\nNo projection: a part failed (see above).")
    results["failures"] = failures
    if args.json:
        from braintune.io import write_atomic

        write_atomic(args.json, json.dumps(results, indent=1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
