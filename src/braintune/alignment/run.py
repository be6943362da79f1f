"""Brain alignment of one model: per participant and layer, ridge r / noise ceiling, by ROI.

For each participant: the training stories of ``dataset.split(participant)`` (responses
z-scored per story) train one ridge model per layer, alphas chosen across those stories
only; the model predicts the test story, scored against the mean of its z-scored repeats;
the repeats also give the noise ceiling (braintune.encoding).

Outputs under ``out_dir``::

    alignment.csv, alignment.parquet                 tidy table (braintune.encoding.TABLE_COLUMNS)
    voxels/<model>/<participant>/layer_<NN>.npz      r, ceiling, alpha, cv_score: (voxels,) float32
    cache/features/                                  feature cache, unless another folder is given

A participant x layer whose npz exists, fitted with the same alphas and folds, is not
recomputed (its table rows are rebuilt from the npz, so a new ceiling threshold needs no
refit); the npz also records those alphas and the number of folds. Alphas use himalaya's convention
(penalty alpha * ||beta||^2; see braintune.encoding.ridge).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from braintune.data.ds003020 import Dataset
from braintune.data.rois import group_rois
from braintune.encoding import (
    DEFAULT_ALPHAS,
    DEFAULT_THRESHOLD,
    TABLE_COLUMNS,
    fit_encoding_model,
    noise_ceiling,
    roi_table,
    zscored_repeats_mean,
)
from braintune.encoding.ridge import DEFAULT_VOXEL_BATCH
from braintune.errors import ConfigError, DataError
from braintune.io import write_atomic_with, write_table
from braintune.progress import tqdm

log = logging.getLogger(__name__)

DELAYS = (1, 2, 3, 4)
ARRAY_KEYS = ("r", "ceiling", "alpha", "cv_score")


def layer_path(out_dir: str | Path, model: str, participant: str, layer: int) -> Path:
    """Where one participant x layer's voxel arrays live."""
    return Path(out_dir) / "voxels" / model / participant / f"layer_{layer:02d}.npz"


def layer_done(path: Path, alphas: Sequence[float], n_folds: int) -> bool:
    """Whether path holds a layer fitted with these alphas and folds."""
    if not path.exists():
        return False
    with np.load(path) as z:
        if "alphas" not in z.files or "n_folds" not in z.files:
            return False
        same = np.array_equal(z["alphas"], np.asarray(alphas, dtype=np.float64)) and int(z["n_folds"]) == n_folds
    if not same:
        log.info("%s: fitted with other alphas or folds; refitting", path)
    return same


def load_layer_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The (voxels,) arrays r, ceiling, alpha, cv_score of one layer's npz."""
    with np.load(path) as z:
        missing = set(ARRAY_KEYS) - set(z.files)
        if missing:
            raise DataError(f"{path}: lacks arrays {sorted(missing)}; delete it to recompute the layer")
        return {k: z[k] for k in ARRAY_KEYS}


def align_participant(
    dataset: Dataset,
    participant: str,
    features: Mapping[str, np.ndarray] | None,
    out_dir: str | Path,
    *,
    model: str,
    layers: Sequence[int] | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    threshold: float = DEFAULT_THRESHOLD,
    n_folds: int = 5,
    voxel_batch: int = DEFAULT_VOXEL_BATCH,
    backend: str = "numpy",
) -> pd.DataFrame:
    """Fit, score and summarise every requested layer for one participant.

    features: story -> (n_layers, rows, features) float32 for the training stories and
    the test story (delays already added); may be None when every requested layer is
    already on disk. layers: layer indices, default all. model: the name written in the
    table and the output paths. Returns the participant's rows of the alignment table.
    """
    check_settings(alphas, threshold, n_folds, voxel_batch)
    split = dataset.split(participant)
    n_voxels = dataset.n_voxels(participant)
    groups = group_rois(dataset.load_rois(participant), n_voxels)
    if layers is None:
        layers = range(_n_layers(features, split.train + [split.test]))
    layers = list(layers)
    paths = {layer: layer_path(out_dir, model, participant, layer) for layer in layers}
    todo = [layer for layer in layers if not layer_done(paths[layer], alphas, n_folds)]
    if todo:
        if features is None:
            raise ValueError(f"{participant}: layers {todo} are not on disk and no features were given")
        n_layers = _n_layers(features, split.train + [split.test])
        bad = [layer for layer in todo if not 0 <= layer < n_layers]
        if bad:
            raise ConfigError(f"layers {bad} out of range: the model has layers 0..{n_layers - 1}")
        repeats = _load_repeats(dataset, participant)
        ceiling = noise_ceiling(repeats)
        test_response = zscored_repeats_mean(repeats)
        del repeats
        _check_rows(features, split.test, participant, len(test_response))
        Y_train, story_rows = load_training_responses(dataset, participant, split.train)
        for story, rows in zip(split.train, story_rows):
            _check_rows(features, story, participant, rows)
    tables = []
    for layer in tqdm(layers, desc=f"{participant} layers", unit="layer"):
        path = paths[layer]
        if layer in todo:
            X_train = np.concatenate([features[s][layer] for s in split.train]).astype(np.float32, copy=False)
            X_test = np.asarray(features[split.test][layer], dtype=np.float32)
            result = fit_encoding_model(
                X_train, Y_train, story_rows, X_test, test_response, alphas,
                n_folds=n_folds, voxel_batch=voxel_batch, backend=backend,
            )
            _warn_alpha_edges(result.alpha[ceiling > threshold], alphas, participant, layer)
            arrays = dict(r=result.r, ceiling=ceiling, alpha=result.alpha, cv_score=result.cv_score)
            write_atomic_with(path, lambda tmp: _save_npz(tmp, arrays, alphas, n_folds))
        else:
            arrays = load_layer_arrays(path)
            if len(arrays["r"]) != n_voxels:
                raise DataError(
                    f"{path}: holds {len(arrays['r'])} voxels but {participant} has {n_voxels}; delete it to recompute"
                )
        tables.append(roi_table(
            arrays["r"], arrays["ceiling"], groups,
            participant=participant, model=model, layer=layer, threshold=threshold,
        ))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=TABLE_COLUMNS)


def align_model(
    dataset: Dataset,
    model,
    participant: str,
    out_dir: str | Path,
    *,
    tag: str,
    cache_dir: str | Path,
    scheme=None,
    dtype: str = "float32",
    delays: Sequence[int] = DELAYS,
    layers: Sequence[int] | None = None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    threshold: float = DEFAULT_THRESHOLD,
    n_folds: int = 5,
    voxel_batch: int = DEFAULT_VOXEL_BATCH,
    backend: str = "numpy",
    device: str | None = None,
) -> pd.DataFrame:
    """Features of `model` on one participant's stories (cached in cache_dir), then align_participant.

    model: hub id, folder or loaded model (braintune.features.story_tr_features). scheme: a
    braintune.features.Scheme or its name (default: the fast scheme's defaults). tag: the
    model's name in the table and the output paths. Features are not extracted when every
    requested layer is already on disk.
    """
    from braintune.features import Scheme, story_tr_features

    check_settings(alphas, threshold, n_folds, voxel_batch)  # before any feature is extracted
    split = dataset.split(participant)
    done = layers is not None and all(
        layer_done(layer_path(out_dir, tag, participant, layer), alphas, n_folds) for layer in layers
    )
    features = None if done else story_tr_features(
        model, dataset, split.train + [split.test], cache_dir=cache_dir, scheme=scheme or Scheme(),
        delays=tuple(delays), device=device, dtype=dtype,
    )
    return align_participant(
        dataset, participant, features, out_dir, model=tag, layers=layers, alphas=alphas,
        threshold=threshold, n_folds=n_folds, voxel_batch=voxel_batch, backend=backend,
    )


def run_alignment(
    data_dir: str | Path | Dataset,
    model,
    subjects: Sequence[str],
    out_dir: str | Path,
    *,
    layers: Sequence[int] | str = "all",
    cache_dir: str | Path | None = None,
    **options,
) -> pd.DataFrame:
    """Align one model with several participants; write the table and voxel arrays to out_dir.

    layers: "all" or layer indices; cache_dir defaults to out_dir/cache/features; other
    keyword arguments (scheme, dtype, alphas, threshold, n_folds, voxel_batch, backend,
    device) as in align_model. Returns the alignment table (also written as
    out_dir/alignment.csv and .parquet).
    """
    from braintune.models import model_tag

    dataset = data_dir if isinstance(data_dir, Dataset) else Dataset(data_dir)
    layers = None if layers == "all" else [int(layer) for layer in layers]
    if not subjects:
        raise ConfigError("no participants given")
    tag = model_tag(model)
    cache_dir = Path(out_dir) / "cache" / "features" if cache_dir is None else cache_dir
    table = pd.concat([
        align_model(dataset, model, participant, out_dir, tag=tag, cache_dir=cache_dir, layers=layers, **options)
        for participant in subjects
    ], ignore_index=True)
    write_table(table, out_dir, "alignment")
    return table


def check_settings(alphas: Sequence[float], threshold: float, n_folds: int, voxel_batch: int) -> None:
    """Raise ConfigError for settings the encoding maths would reject."""
    alphas = np.asarray(alphas, dtype=float)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas) & (alphas > 0)):
        raise ConfigError(f"alphas must be positive numbers, got {alphas.tolist()}")
    if not 0 <= threshold < 1:
        raise ConfigError(f"the noise-ceiling threshold must be in [0, 1), got {threshold}")
    if n_folds < 2:
        raise ConfigError(f"n_folds must be at least 2, got {n_folds}")
    if voxel_batch < 1:
        raise ConfigError(f"voxel_batch must be positive, got {voxel_batch}")


def load_training_responses(dataset: Dataset, participant: str, stories: Sequence[str]) -> tuple[np.ndarray, list[int]]:
    """Training responses, each story z-scored per voxel, stacked in order.

    Returns ((rows, voxels) float32, rows per story). Filled in place: peak memory is the
    stacked array plus one story.
    """
    story_rows = [len(dataset.row_times(story)) for story in stories]
    Y = np.empty((sum(story_rows), dataset.n_voxels(participant)), dtype=np.float32)
    start = 0
    for story, rows in zip(stories, story_rows):
        block = dataset.load_responses(participant, story)
        if block.shape != (rows, Y.shape[1]):
            raise DataError(f"{participant}/{story}: responses have shape {block.shape}, expected {(rows, Y.shape[1])}")
        block -= block.mean(0)
        std = block.std(0)
        Y[start : start + rows] = np.divide(block, std, out=np.zeros_like(block), where=std > 0)
        start += rows
    return Y, story_rows


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray], alphas: Sequence[float], n_folds: int) -> None:
    voxel_arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    np.savez(path, **voxel_arrays, alphas=np.asarray(alphas, dtype=np.float64), n_folds=np.int64(n_folds))


def _load_repeats(dataset: Dataset, participant: str) -> np.ndarray:
    repeats = dataset.load_repeats(participant)
    if repeats.shape[0] < 2:
        raise DataError(
            f"{participant}/{dataset.test_story}: {repeats.shape[0]} repeat(s); the noise ceiling needs at least 2"
        )
    return repeats


def _n_layers(features: Mapping[str, np.ndarray] | None, stories: Sequence[str]) -> int:
    if features is None:
        raise ValueError("layers must be given when no features are")
    missing = [s for s in stories if s not in features]
    if missing:
        raise DataError(f"features lack stories {missing}")
    counts = {s: features[s].shape[0] for s in stories if np.ndim(features[s]) == 3}
    if len(counts) != len(stories) or len(set(counts.values())) != 1:
        shapes = {s: np.shape(features[s]) for s in stories}
        raise DataError(f"features must be (n_layers, rows, features) with one n_layers for every story, got {shapes}")
    return next(iter(counts.values()))


def _check_rows(features: Mapping[str, np.ndarray], story: str, participant: str, rows: int) -> None:
    n = features[story].shape[1]
    if n != rows:
        raise DataError(f"story {story!r}: features have {n} rows but {participant}'s responses have {rows}")


def _warn_alpha_edges(chosen: np.ndarray, alphas: Sequence[float], participant: str, layer: int) -> None:
    """Warn when many analysed voxels chose the largest alpha: the grid may be too small."""
    top = float(np.mean(chosen >= np.max(alphas) * (1 - 1e-6))) if chosen.size else 0.0
    if top > 0.25:
        log.warning(
            "%s layer %d: %.0f%% of voxels above the ceiling threshold chose the largest alpha (%g); "
            "consider larger alphas (himalaya convention: a Huth-lab alpha a is a**2 here)",
            participant, layer, 100 * top, np.max(alphas),
        )
