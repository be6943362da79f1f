"""Per-story features of a model on the fMRI clock: extract (cached), Lanczos to the response
rows, z-score per story, FIR delays within each story."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace

import numpy as np
import transformers

from braintune.errors import ConfigError, DataError
from braintune.features.cache import FeatureCache, audio_sha256
from braintune.features.extraction import Scheme, extract, step_ends
from braintune.features.resample import lanczos_resample, make_delayed, zscore
from braintune.models import load_encoder, model_identity, model_tag, resolve_device
from braintune.models.encoders import DTYPES, SAMPLE_RATE
from braintune.progress import tqdm

log = logging.getLogger(__name__)

FEATURES_VERSION = 1  # bump when extraction changes what a cached file means


def _scheme(scheme: str | Scheme, dtype: str) -> Scheme:
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
    scheme = scheme if isinstance(scheme, Scheme) else Scheme(name=scheme)
    return replace(scheme, bf16=scheme.bf16 or dtype == "bfloat16")


def _layer_indices(layers: Sequence[int | str] | None, n_layers: int) -> list[int]:
    if layers is None:
        return list(range(n_layers))
    indices = [int(str(layer).removeprefix("layer_")) for layer in layers]
    bad = [i for i in indices if not 0 <= i < n_layers]
    if bad:
        raise ConfigError(f"layers {bad} out of range: the model has layer_0 … layer_{n_layers - 1}")
    return indices


def step_features(
    model: str | os.PathLike | transformers.PreTrainedModel,
    dataset,
    stories: Sequence[str],
    *,
    cache_dir: str | os.PathLike,
    scheme: str | Scheme = "fast",
    device: str | None = None,
    dtype: str = "float32",
    progress: bool = True,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield (story, times (steps,) s after sound onset, features (layers, steps, hidden) float32) for each story,
    read from the cache or computed and cached. `model` is an id/path (loaded in float32) or a loaded model.

    dtype "bfloat16" computes under bfloat16 autocast. A loaded model is put in eval mode for the
    extraction and then back in its previous mode.
    """
    scheme = _scheme(scheme, dtype)
    if not isinstance(model, transformers.PreTrainedModel):
        model = load_encoder(model, device=device)
    elif device is not None:
        model.to(resolve_device(device))
    settings = {
        "version": FEATURES_VERSION,
        "model": model_identity(model),
        "sample_rate": SAMPLE_RATE,
        "do_normalize": bool(getattr(model.config, "do_normalize", True)),
        **scheme.settings(),
    }
    cache = FeatureCache(cache_dir, model_tag(model), settings)
    was_training = model.training
    model.eval()
    try:
        for story in tqdm(stories, desc=f"features {model_tag(model)}", unit="story", disable=not progress):
            audio = dataset.load_audio(story, sample_rate=SAMPLE_RATE)
            sha = audio_sha256(audio)
            cached = cache.load(story, sha)
            if cached is None:
                if step_ends(len(audio), scheme.step).size == 0:
                    raise DataError(f"story {story!r}: its audio ({len(audio)} samples) is shorter than one feature step")
                times, features = extract(model, audio, scheme, desc=story, progress=progress)
                cache.save(story, times, features, sha)
                log.debug("%s: wrote %s", story, cache.path(story))
            else:
                times, features = cached
            yield story, times, features
    finally:
        model.train(was_training)


def _tr(dataset, story: str, times: np.ndarray, features: np.ndarray, layers) -> np.ndarray:
    rows = dataset.row_times(story)
    tr = float(np.median(np.diff(rows))) if len(rows) > 1 else 2.0
    return lanczos_resample(features[_layer_indices(layers, features.shape[0])], times, rows, tr)


def tr_features(
    model, dataset, stories: Sequence[str], *, cache_dir, scheme="fast", layers=None, device=None, dtype="float32"
) -> dict[str, np.ndarray]:
    """Undelayed, un-z-scored features at each story's response-row times. -> {story: (n_layers, rows, hidden) float32}

    Lanczos (3 lobes, cutoff 1/TR, TR = the spacing of the rows) from the step times to
    dataset.row_times(story). Arguments as in story_tr_features.
    """
    return {
        story: _tr(dataset, story, times, features, layers)
        for story, times, features in step_features(
            model, dataset, stories, cache_dir=cache_dir, scheme=scheme, device=device, dtype=dtype
        )
    }


def story_tr_features(
    model,
    dataset,
    stories: Sequence[str],
    *,
    cache_dir,
    scheme: str | Scheme = "fast",
    delays: Sequence[int] = (1, 2, 3, 4),
    layers: Sequence[int | str] | None = None,
    device: str | None = None,
    dtype: str = "float32",
) -> dict[str, np.ndarray]:
    """Regression-ready features per story. -> {story: (n_layers, rows, hidden*len(delays)) float32}

    model: hub id / folder / "tiny:<family>", or a loaded model. dataset: a braintune.data.ds003020.Dataset
    (anything with load_audio(story, sample_rate) and row_times(story)). scheme: "fast", "reference" or a
    Scheme. layers: indices or "layer_k" names (default all). Each story's features are resampled to
    its response rows (rows == len(dataset.row_times(story))), z-scored over those rows, then delayed by
    `delays` rows within the story (zeros before its first row). Step-level features are cached in cache_dir.
    """
    raw = tr_features(
        model, dataset, stories, cache_dir=cache_dir, scheme=scheme, layers=layers, device=device, dtype=dtype
    )
    return {story: make_delayed(zscore(x), tuple(delays)) for story, x in raw.items()}
