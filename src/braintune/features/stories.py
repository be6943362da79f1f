"""Per-story features of a model on the fMRI clock: extract (cached), Lanczos to the response
rows, z-score per story, FIR delays within each story."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import transformers

from braintune.arrays import zscore
from braintune.errors import DataError
from braintune.features.cache import FeatureCache, audio_sha256
from braintune.features.extraction import Scheme, extract, step_ends
from braintune.features.resample import lanczos_resample, make_delayed
from braintune.models import load_encoder, model_identity, model_tag, resolve_device, select_layers
from braintune.models.encoders import SAMPLE_RATE
from braintune.progress import tqdm

log = logging.getLogger(__name__)

FEATURES_VERSION = 1  # bump when extraction changes what a cached file means


def step_features(
    model: str | os.PathLike | transformers.PreTrainedModel,
    dataset,
    stories: Sequence[str],
    *,
    cache_dir: str | os.PathLike,
    scheme: Scheme = Scheme(),
    device: str | None = None,
    progress: bool = True,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield (story, times (steps,) s after sound onset, features (layers, steps, hidden) float32) for each story,
    read from the cache or computed and cached. `model` is an id/path (loaded in float32) or a loaded model.

    A loaded model is put in eval mode for the extraction and then back in its previous mode.
    """
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
    return lanczos_resample(features[select_layers(layers, features.shape[0])], times, rows, tr)


def tr_features(
    model, dataset, stories: Sequence[str], *, cache_dir, scheme: Scheme = Scheme(), layers=None, device=None
) -> dict[str, np.ndarray]:
    """Undelayed, un-z-scored features at each story's response-row times. -> {story: (n_layers, rows, hidden) float32}

    Lanczos (3 lobes, cutoff 1/TR, TR = the spacing of the rows) from the step times to
    dataset.row_times(story). Arguments as in story_tr_features.
    """
    return {
        story: _tr(dataset, story, times, features, layers)
        for story, times, features in step_features(model, dataset, stories, cache_dir=cache_dir, scheme=scheme, device=device)
    }


def story_tr_features(
    model,
    dataset,
    stories: Sequence[str],
    *,
    cache_dir,
    scheme: Scheme = Scheme(),
    delays: Sequence[int],
    layers: Sequence[int | str] | None = None,
    first_rows: Mapping[str, int] | None = None,
    device: str | None = None,
) -> dict[str, np.ndarray]:
    """Regression-ready features per story. -> {story: (n_layers, rows - first_row, hidden*len(delays)) float32}

    model: hub id / folder / "tiny:<family>", or a loaded model. dataset: a braintune.data.fmri.FMRIDataset
    (anything with load_audio(story, sample_rate) and row_times(story)). scheme: a Scheme.
    layers: indices or "layer_k" names (default all). Each story's features are resampled to
    its response rows (rows == len(dataset.row_times(story))), the story's first
    `first_rows.get(story, 0)` rows dropped, z-scored over the rows kept, then delayed by
    `delays` rows within the story (zeros before its first kept row). Step-level features
    are cached in cache_dir.
    """
    raw = tr_features(model, dataset, stories, cache_dir=cache_dir, scheme=scheme, layers=layers, device=device)
    first_rows = first_rows or {}
    return {story: make_delayed(zscore(x[:, first_rows.get(story, 0):], axis=-2), tuple(delays)) for story, x in raw.items()}
