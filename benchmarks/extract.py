"""Benchmark: reference vs fast feature extraction at base size (wav2vec2-base config, random weights),
or on any model given with --model (e.g. the shipped trained checkpoint tiny-pretrained:hubert).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/extract.py --seconds 90 --fidelity-seconds 40 --ref-steps 10 --chunk 0.8 --reference-cache /tmp/refcache40.npz
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/extract.py --model tiny-pretrained:hubert --seconds 90 --fidelity-seconds 40 --reference-cache /tmp/refcache-pretrained.npz

Reports seconds of story audio processed per wall-clock second for the reference (measured on
--ref-steps steady-state steps with full-context windows, batched as the scheme runs them, and
extrapolated: every such step costs the same) and for the fast scheme (float32 and bfloat16
autocast, whole story), their ratio, and per-layer fidelity of fast vs reference on
--fidelity-seconds of audio: the correlation, over TR rows (every 2 s), of each feature after
Lanczos resampling and z-scoring; min, median and mean per layer. The reference features for fidelity take long (~160 s of model input per second of
audio); --reference-cache keeps them in a file, reused when audio, step and context match.
The audio is espeak-ng speech of random words (seeded). Not a test.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import transformers

from braintune.synthetic.speech import Voice, synthesize
from braintune.arrays import zscore
from braintune.features import Scheme, extract, lanczos_resample
from braintune.features.cache import audio_sha256
from braintune.features.extraction import _run, step_ends
from braintune.io import write_atomic_with
from braintune.models import load_encoder, model_identity

WORDS = (
    "the a story river mountain quickly said she he walked into house light dark night morning because never "
    "always people children water after before their little old new long home school found looked back over"
).split()


def speech(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    pieces, total = [], 0
    while total < seconds * 16000:
        audio = synthesize(" ".join(rng.choice(WORDS, 60)), Voice(rate=int(rng.integers(150, 200)))).audio
        pieces.append(audio)
        total += len(audio)
    return np.concatenate(pieces)[: int(seconds * 16000)].astype(np.float32)


def base_model() -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    model = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config())  # defaults = wav2vec2-base architecture
    model.config.do_normalize = True
    return model.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=180.0, help="story length for throughput")
    p.add_argument("--fidelity-seconds", type=float, default=40.0, help="story length for fidelity (full reference; 0 skips)")
    p.add_argument("--ref-steps", type=int, default=20, help="steady-state reference steps timed")
    p.add_argument("--context", type=float, default=16.0)
    p.add_argument("--step", type=float, default=0.1)
    p.add_argument("--chunk", type=float, nargs="+", default=[0.8], help="fast-scheme chunk(s) to compare")
    p.add_argument("--reference-cache", type=Path, help="npz file for the fidelity reference features (read if it matches)")
    p.add_argument("--model", help="model id or folder (braintune.models.load_encoder) instead of random base-size weights")
    args = p.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")

    model = load_encoder(args.model, device="cpu") if args.model else base_model()
    print(f"model: {args.model or 'wav2vec2-base architecture, random weights'}")
    audio = speech(args.seconds)
    ref = Scheme("reference", step=args.step, context=args.context)
    fasts = []
    for chunk in args.chunk:
        fast = Scheme("fast", step=args.step, context=args.context, chunk=chunk)
        fasts += [(f"fast chunk {chunk:g} s float32", fast), (f"fast chunk {chunk:g} s bf16-autocast", replace(fast, dtype="bfloat16"))]

    ends = step_ends(len(audio), args.step)
    full = ends[ends >= int(args.context * 16000)][: args.ref_steps]
    windows = np.stack([audio[end - int(args.context * 16000) : end] for end in full])
    _run(model, windows[:1], False)  # warm-up
    start = time.perf_counter()
    for b in range(0, len(full), ref.batch_size):  # as the reference scheme runs them: equal-length batches
        _run(model, windows[b : b + ref.batch_size], False, frames=slice(-1, None))
    per_step = (time.perf_counter() - start) / len(full)
    ref_rate = args.step / per_step
    print(f"reference: {per_step:.3f} s per step ({len(full)} steps of {args.context:g} s timed in batches of "
          f"{ref.batch_size}, extrapolated) -> {ref_rate:.3f} s of story per s")

    for name, scheme in fasts:
        start = time.perf_counter()
        extract(model, audio, scheme, progress=False)
        rate = args.seconds / (time.perf_counter() - start)
        print(f"{name}: {rate:.3f} s of story per s ({args.seconds:g} s story) -> {rate / ref_rate:.1f}x reference")

    if args.fidelity_seconds <= 0:
        return
    audio = audio[: int(args.fidelity_seconds * 16000)]
    times, reference = reference_features(model, audio, ref, args.reference_cache)
    rows = np.arange(1.0, args.fidelity_seconds - 1.0, 2.0)
    a = zscore(lanczos_resample(reference, times, rows, 2.0), axis=-2)
    for name, scheme in fasts:
        _, features = extract(model, audio, scheme, progress=False)
        r = (a * zscore(lanczos_resample(features, times, rows, 2.0), axis=-2)).mean(axis=1)
        medians = np.median(r, axis=1)
        print(f"fidelity {name} vs reference ({args.fidelity_seconds:g} s, {len(rows)} TR rows), per layer min / median / mean r:")
        print("  " + "  ".join(f"L{i}: {row.min():.3f}/{np.median(row):.4f}/{row.mean():.4f}" for i, row in enumerate(r)))
        print(f"  median r over layers {medians.min():.4f}-{medians.max():.4f}, min r {r.min():.3f}; "
              f"every layer's median >= 0.99: {bool(np.all(medians >= 0.99))}")


def reference_features(model, audio: np.ndarray, scheme: Scheme, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """The reference's (times, features) for audio, from `cache` if it holds them for this audio, model and scheme."""
    key = np.array(json.dumps({"audio_sha256": audio_sha256(audio), "model": model_identity(model), **scheme.settings()},
                              sort_keys=True))
    if cache is not None and cache.is_file():
        with np.load(cache) as npz:
            if str(npz["key"]) == str(key):
                print(f"reference features from {cache}")
                return npz["times"], npz["features"]
    times, features = extract(model, audio, scheme, progress=True)
    if cache is not None:
        write_atomic_with(cache, lambda tmp: np.savez(tmp, key=key, times=times, features=features))
    return times, features


if __name__ == "__main__":
    main()
