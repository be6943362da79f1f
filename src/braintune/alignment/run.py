"""Brain alignment of one model: per participant and layer, ridge r / noise ceiling, by ROI.

For each participant: the training stories of the split (responses z-scored per story)
train one ridge model per layer, alphas chosen on those stories only (folds and score by
the protocol, braintune.alignment.settings); the model predicts the test story, scored
against the repeat-averaged response; the repeats also give the noise ceiling.

Outputs under ``out_dir``::

    alignment.csv, alignment.parquet                 tidy table (COLUMNS: encoding.TABLE_COLUMNS and the
                                                     significant voxels per ROI, encoding.SIGNIFICANCE_COLUMNS)
    voxels/<model>/<participant>/layer_<NN>.npz      r, ceiling, alpha, cv_score, p_value: (voxels,) float32; fit_key
    cache/features/                                  feature cache, unless another folder is given

A layer's npz is reused when its ``fit_key`` (a hash of everything the fit depends on: the
model's files, the extraction scheme, the fit settings, the split and the files read) is
unchanged; the ceiling threshold and the ROIs are applied to the stored arrays, so changing
them needs no refit. Alphas use himalaya's convention (penalty alpha * ||beta||^2).
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from braintune.alignment.protocols import FsaverageMeans
from braintune.alignment.settings import AlignSettings
from braintune.arrays import zscore
from braintune.data.fmri import DEFAULT_LAYOUT, FMRIDataset, SplitSettings, StorySplit, open_dataset, resolve_split
from braintune.data.rois import group_rois
from braintune.encoding import SIGNIFICANCE_COLUMNS, TABLE_COLUMNS, fit_encoding_model, roi_table
from braintune.encoding.ridge import resolve_backend
from braintune.errors import DataError
from braintune.features import Scheme
from braintune.fingerprint import files_fingerprint
from braintune.io import write_atomic_with, write_table
from braintune.models import model_fingerprint, model_tag, num_layers, select_layers
from braintune.progress import tqdm

log = logging.getLogger(__name__)

COLUMNS = [*TABLE_COLUMNS, *SIGNIFICANCE_COLUMNS]  # the alignment table's
ARRAY_KEYS = ("r", "ceiling", "alpha", "cv_score", "p_value")  # p_value: NaN where no permutations ran


def layer_path(out_dir: str | Path, model: str, participant: str, layer: int) -> Path:
    """Where one participant x layer's voxel arrays live: under out_dir whatever `model` names
    (a folder's absolute path or a hub id become a folder name, models.model_tag)."""
    return Path(out_dir) / "voxels" / model_tag(model) / participant / f"layer_{layer:02d}.npz"


def stored_layer(path: Path, fit_key: str, n_voxels: int) -> dict[str, np.ndarray] | None:
    """The arrays r, ceiling, alpha, cv_score ((n_voxels,) each) of a layer fitted under
    `fit_key` at path, or None when the layer must be fitted again: no file, a file that
    does not read whole (a truncated or damaged npz), other inputs or settings, or arrays
    of another shape. Each reason but the first is logged."""
    if not path.exists():
        return None
    try:
        with np.load(path) as z:
            key = str(z["fit_key"]) if "fit_key" in z.files else None
            arrays = {k: np.asarray(z[k]) for k in ARRAY_KEYS if key == fit_key}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # a damaged npz: refit
        log.warning("%s: unreadable (%s: %s); refitting", path, type(exc).__name__, exc)
        return None
    if key != fit_key:
        log.info("%s: fitted with other inputs or settings; refitting", path)
        return None
    shapes = sorted({a.shape for a in arrays.values()})
    if shapes != [(n_voxels,)]:
        log.warning("%s: arrays of shapes %s, expected (%d,) each; refitting", path, shapes, n_voxels)
        return None
    return arrays


def load_layer_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """The (voxels,) arrays r, ceiling, alpha, cv_score of one layer's npz."""
    with np.load(path) as z:
        missing = set(ARRAY_KEYS) - set(z.files)
        if missing:
            raise DataError(f"{path}: lacks arrays {sorted(missing)}; delete it to recompute the layer")
        return {k: z[k] for k in ARRAY_KEYS}


def fit_key(dataset: FMRIDataset, participant: str, split: StorySplit, model: str, scheme: Scheme,
            settings: AlignSettings) -> str:
    """Hash of everything a participant's fitted voxel arrays depend on (not the threshold, not the ROIs)."""
    files = dataset.key_files(participant, [*split.train, split.test])
    payload = {"model": model_fingerprint(model), "scheme": scheme.settings(), "align": settings.fit_settings(),
               "split": split.to_dict(), "files": files_fingerprint(files, dataset.root)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def test_data(dataset: FMRIDataset, participant: str, split: StorySplit, settings: AlignSettings
              ) -> tuple[np.ndarray, np.ndarray]:
    """(ceiling (voxels,), test response (test rows, voxels)) by the protocol's rules."""
    rules = settings.rules
    repeats = dataset.load_repeats(participant, split.test)[:, rules.skip_test_rows:]
    if repeats.shape[1] < 2:
        raise DataError(f"{dataset.response_path(participant, split.test)}: {repeats.shape[1]} test rows left after "
                        f"skipping {rules.skip_test_rows} ({settings.protocol} protocol)")
    return rules.test_data(repeats)


def align_participant(
    dataset: FMRIDataset,
    participant: str,
    split: StorySplit,
    features: Mapping[str, np.ndarray] | None,
    out_dir: str | Path,
    *,
    model: str,
    layers: Sequence[int],
    settings: AlignSettings = AlignSettings(),
    key: str = "",
) -> pd.DataFrame:
    """Fit, score and summarise the given layers for one participant.

    features: story -> (len(layers), rows, features) float32, row i of the first axis for
    layers[i], for the split's training stories and its test story (delays added; the test
    story cut by the protocol's skipped rows);
    may be None when every layer is on disk under `key` (the fit key). model: the name in
    the table and the output paths. Returns the participant's rows of the alignment table.
    """
    n_voxels = dataset.n_voxels(participant)
    summarise = roi_summary(dataset, participant, settings, model)
    paths = {layer: layer_path(out_dir, model, participant, layer) for layer in layers}
    stored = {layer: stored_layer(paths[layer], key, n_voxels) for layer in layers}
    todo = [layer for layer in layers if stored[layer] is None]
    if todo:
        if features is None:
            raise ValueError(f"{participant}: layers {todo} are not on disk and no features were given")
        ceiling, test_response = test_data(dataset, participant, split, settings)
        _check_rows(features, split.test, participant, len(test_response))
        Y_train, story_rows = load_training_responses(dataset, participant, split.train)
        for story, rows in zip(split.train, story_rows):
            _check_rows(features, story, participant, rows)
        folds = settings.rules.folds.folds(story_rows, settings)
    tables = []
    for i, layer in enumerate(tqdm(layers, desc=f"{participant} layers", unit="layer")):
        path = paths[layer]
        if layer in todo:
            X_train = np.concatenate([features[s][i] for s in split.train]).astype(np.float32, copy=False)
            X_test = np.asarray(features[split.test][i], dtype=np.float32)
            result = fit_encoding_model(
                X_train, Y_train, folds, X_test, test_response, settings.alphas, metric=settings.rules.metric,
                voxel_batch=settings.voxel_batch, backend=resolve_backend(settings.backend),
            )
            _warn_alpha_edges(result.alpha[ceiling > settings.ceiling_threshold], settings.alphas, participant, layer)
            arrays = dict(r=result.r, ceiling=ceiling, alpha=result.alpha, cv_score=result.cv_score,
                          p_value=_p_values(result.prediction, test_response, settings))
            write_atomic_with(path, lambda tmp: _save_npz(tmp, arrays, key))
        else:
            arrays = stored[layer]
        tables.append(summarise(arrays, layer))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=COLUMNS)


def _p_values(prediction: np.ndarray, response: np.ndarray, settings: AlignSettings) -> np.ndarray:
    """Each voxel's one-sided block-permutation p of its test r (encoding.significance; seed 0, so the
    same draws for every layer and variant). (rows, voxels) x 2 -> (voxels,); NaN without permutations
    or where the test rows make fewer than two blocks."""
    from braintune.encoding.significance import permutation_p_values

    if settings.permutations == 0 or len(response) < 2 * settings.permutation_block:
        return np.full(response.shape[1], np.nan, np.float32)
    _, p = permutation_p_values(prediction, response, n_permutations=settings.permutations,
                                block=settings.permutation_block, seed=0)
    return p


def significance_counts(arrays: Mapping[str, np.ndarray], groups: Mapping[str, np.ndarray],
                        settings: AlignSettings) -> pd.DataFrame:
    """Per ROI (and whole_cortex) the voxels significant at settings.fdr (Benjamini-Hochberg over the
    voxels above the ceiling threshold): roi, n_significant, fraction_significant (NaN without p-values)."""
    from braintune.encoding.significance import fdr_bh, roi_significance

    tested = arrays["ceiling"] > settings.ceiling_threshold
    p = np.where(tested, arrays["p_value"], np.nan)
    significant, _ = fdr_bh(p, q=settings.fdr) if np.isfinite(p).any() else (np.zeros(len(p), bool), None)
    table = roi_significance(significant, groups, tested=tested)
    if not np.isfinite(p).any():
        table[["n_significant", "fraction_significant"]] = np.nan
    return table


def roi_summary(dataset: FMRIDataset, participant: str, settings: AlignSettings, model: str):
    """The rows of the alignment table of one layer: arrays (the layer's voxel arrays, ARRAY_KEYS),
    layer -> table. ROI values by the protocol's rule: means over the voxels of the ROI groups and
    the dataset's functional ROIs, or (the authors' protocol, given an atlas) fsaverage area means
    (braintune.alignment.fsaverage); with each ROI's significant voxels (significance_counts)."""
    n_voxels = dataset.n_voxels(participant)
    groups = group_rois(dataset.load_rois(participant), n_voxels, source=dataset.roi_path(participant))
    groups.update(dataset.load_functional_rois(participant))  # the dataset's own ROIs (AC, Broca ...), if written
    context = dict(participant=participant, model=model, threshold=settings.ceiling_threshold)
    if settings.rules.rois.through_fsaverage(settings):
        from braintune.alignment.fsaverage import FsaverageAtlas, affine_path, fsaverage_roi_table, read_affine
        from braintune.data.pycortex import Subject, cortical_mask

        files = dataset.cortex(participant)
        subject = Subject(files.subject)
        mask = cortical_mask(subject, subject.transform(files.transform), "thick")
        if int(mask.sum()) != n_voxels:
            raise DataError(f"{files.subject}: the thick mask of {files.transform} has {int(mask.sum())} voxels, "
                            f"but {participant}'s responses have {n_voxels} columns")
        affine, atlas = read_affine(affine_path(settings.affines, participant)), FsaverageAtlas.read(settings.atlas)

        def values(r, ceiling, layer):
            return fsaverage_roi_table(r, ceiling, mask, affine, atlas, layer=layer, **context)
    else:
        if isinstance(settings.rules.rois, FsaverageMeans):
            log.warning("%s: align.atlas is not set, so the %s protocol's ROI values are means over voxels, not its "
                        "fsaverage area means", participant, settings.protocol)

        def values(r, ceiling, layer):
            return roi_table(r, ceiling, groups, layer=layer, **context)

    def summarise(arrays: Mapping[str, np.ndarray], layer: int) -> pd.DataFrame:
        table = values(arrays["r"], arrays["ceiling"], layer)
        return table.merge(significance_counts(arrays, groups, settings), on="roi", how="left")

    return summarise


def align_model(
    dataset: FMRIDataset,
    model,
    participant: str,
    split: StorySplit,
    out_dir: str | Path,
    *,
    tag: str,
    cache_dir: str | Path,
    scheme: Scheme = Scheme(),
    settings: AlignSettings = AlignSettings(),
    layers="all",
    device: str | None = None,
) -> pd.DataFrame:
    """Features of `model` on one participant's split (cached in cache_dir), then align_participant.

    model: hub id, folder or "tiny:<family>". tag: the model's name in the table and the
    output paths. layers: "all" or indices. Features are not extracted when every requested
    layer is already on disk under the same fit key.
    """
    from braintune.features import story_tr_features

    settings.check_split({participant: split}, lambda story: len(dataset.row_times(story)))
    indices = select_layers(layers, num_layers(model))
    key = fit_key(dataset, participant, split, str(model), scheme, settings)
    n_voxels = dataset.n_voxels(participant)
    done = all(stored_layer(layer_path(out_dir, tag, participant, layer), key, n_voxels) is not None
               for layer in indices)
    features = None if done else story_tr_features(
        model, dataset, [*split.train, split.test], cache_dir=cache_dir, scheme=scheme, delays=tuple(settings.delays),
        layers=indices, first_rows={split.test: settings.rules.skip_test_rows}, device=device,
    )
    return align_participant(dataset, participant, split, features, out_dir, model=tag, layers=indices,
                             settings=settings, key=key)


def run_alignment(
    data_dir: str | Path | FMRIDataset,
    model,
    subjects: Sequence[str],
    out_dir: str | Path,
    *,
    layers="all",
    cache_dir: str | Path | None = None,
    scheme: Scheme = Scheme(),
    settings: AlignSettings = AlignSettings(),
    split: SplitSettings = SplitSettings(),
    device: str | None = None,
    layout: str = DEFAULT_LAYOUT,
) -> pd.DataFrame:
    """Align one model with several participants; write the table and voxel arrays to out_dir.

    data_dir: a dataset folder in `layout`, or an opened dataset. The split is resolved over
    `subjects` (resolve_split). cache_dir defaults to out_dir/cache/features. Returns the
    alignment table (also out_dir/alignment.csv, .parquet).
    """
    dataset = data_dir if isinstance(data_dir, FMRIDataset) else open_dataset(layout, data_dir)
    splits = resolve_split(dataset, subjects, split)
    settings.check_split(splits, lambda story: len(dataset.row_times(story)))
    tag = model_tag(model)
    cache_dir = Path(out_dir) / "cache" / "features" if cache_dir is None else cache_dir
    table = pd.concat([
        align_model(dataset, model, participant, splits[participant], out_dir, tag=tag, cache_dir=cache_dir,
                    scheme=scheme, settings=settings, layers=layers, device=device)
        for participant in subjects
    ], ignore_index=True)
    write_table(table, out_dir, "alignment")
    return table


def load_training_responses(dataset: FMRIDataset, participant: str, stories: Sequence[str]) -> tuple[np.ndarray, list[int]]:
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
            raise DataError(f"{dataset.response_path(participant, story)}: responses have shape {block.shape}, "
                            f"expected {(rows, Y.shape[1])}")
        Y[start : start + rows] = zscore(block)
        start += rows
    return Y, story_rows


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray], key: str) -> None:
    voxel_arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    np.savez(path, **voxel_arrays, fit_key=np.array(key))


def _check_rows(features: Mapping[str, np.ndarray], story: str, participant: str, rows: int) -> None:
    if story not in features:
        raise DataError(f"features lack story {story!r}")
    n = np.shape(features[story])[1]
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
