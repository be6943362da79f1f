"""Voxelwise ridge regression, one alpha per voxel chosen by leave-stories-out cross-validation.

Penalty convention (himalaya's): for each voxel y,

    beta = argmin ||X beta - y||^2 + alpha ||beta||^2 = (X^T X + alpha I)^-1 X^T y.

Huth-lab ridge code (the ds003020 companion code) penalises alpha^2 instead: its alpha ``a``
is ``alpha = a**2`` here.

With the eigendecomposition ``X^T X = V diag(lam) V^T`` the solution is
``beta = V diag(1 / (lam + alpha)) V^T X^T y``, so one decomposition per cross-validation
fold serves every alpha and every voxel batch. The Gram matrix is formed and decomposed in
float64 (a training fold's Gram is the full Gram minus the validation rows' Gram);
for a (7200, 3072) float32 X that took 16 s against 28 s for scipy's thin SVD (1 thread,
shared machine). Voxels are
processed in batches of ``voxel_batch`` columns to bound memory; ``X^T Y`` of a batch is
computed once and reduced by the validation rows' share for each fold.

The products may run on a GPU: ``backend`` names a himalaya backend ("numpy", "torch",
"torch_cuda", ...); the (features, features) eigendecompositions stay on the CPU in float64
and only one batch of voxels is on the device at a time. himalaya's solve_ridge_cv_svd is
the test oracle (tests/test_encoding.py).

Alphas are chosen per voxel by a validation score averaged over folds: Pearson r
(``metric="correlation"``), or, as Huth-lab ``bootstrap_ridge(use_corr=False)`` does,
"variance explained" sign(R2) * sqrt(|R2|) with R2 = 1 - var(y - p) / ((1 + var(y)) / 2)
(``metric="variance_explained"``; the denominator is that code's "assumed" response variance).
Folds are whole stories (``story_folds``) or that code's random chunks (``chunk_folds``).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np



@dataclass(frozen=True)
class EncodingResult:
    """One layer's encoding model for one participant.

    r: (voxels,) Pearson r between prediction and the test response.
    alpha: (voxels,) alpha chosen by cross-validation on the training stories.
    cv_score: (voxels,) mean validation Pearson r at that alpha.
    prediction: (test rows, voxels) prediction of the test story, in the features' dtype.
    """

    r: np.ndarray
    alpha: np.ndarray
    cv_score: np.ndarray
    prediction: np.ndarray


def story_folds(story_rows: Sequence[int], n_folds: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Leave-stories-out folds over stories stacked in the given order.

    story_rows: number of rows of each story. The stories are split, in order, into
    ``min(n_folds, n_stories)`` contiguous groups; each group validates once.
    Returns [(train row indices, validation row indices)] per fold.
    """
    story_rows = [int(n) for n in story_rows]
    if len(story_rows) < 2:
        raise ValueError(f"choosing alphas across stories needs at least 2 training stories, got {len(story_rows)}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    bounds = np.concatenate([[0], np.cumsum(story_rows)])
    rows = np.arange(bounds[-1])
    folds = []
    for group in np.array_split(np.arange(len(story_rows)), min(n_folds, len(story_rows))):
        val = np.zeros(len(rows), dtype=bool)
        val[bounds[group[0]] : bounds[group[-1] + 1]] = True
        folds.append((rows[~val], rows[val]))
    return folds


def chunk_folds(n_rows: int, n_boots: int = 3, chunk_len: int = 20, held_fraction: float = 0.25,
                seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Huth-lab bootstrap held-out sets: the rows cut into consecutive chunks of `chunk_len`
    (a last partial chunk is never held out); each of `n_boots` folds holds out
    max(1, int(n_rows * held_fraction / chunk_len)) chunks drawn without replacement.

    Returns [(train row indices, validation row indices)] per fold; seeded.
    """
    n_chunks = n_rows // chunk_len
    held = max(1, int(n_rows * held_fraction / chunk_len))
    if n_chunks < held + 1:
        raise ValueError(f"{n_rows} training rows make {n_chunks} chunks of {chunk_len}; bootstrap folds need at least {held + 1}")
    rng = np.random.default_rng(seed)
    rows = np.arange(n_rows)
    folds = []
    for _ in range(n_boots):
        chosen = rng.permutation(n_chunks)[:held]
        val = np.zeros(n_rows, dtype=bool)
        for c in chosen:
            val[c * chunk_len : (c + 1) * chunk_len] = True
        folds.append((rows[~val], rows[val]))
    return folds


def pearson_r(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pearson r per column of two (rows, voxels) arrays; 0 where either column is constant."""
    return _finish_r(*(np.asarray(part, dtype=np.float64) for part in _r_parts(prediction, target)))


def select_alphas(
    X: np.ndarray,
    Y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    alphas: Sequence[float],
    *,
    metric: str = "correlation",
    voxel_batch: int = 8192,
    backend: str = "numpy",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose one alpha per voxel by the validation score (`metric`) averaged over folds.

    X: (rows, features); Y: (rows, voxels); folds: [(train rows, validation rows)], each
    fold's train rows being all rows not in its validation rows (as from story_folds).
    Returns (alpha (voxels,), cv_score (voxels,), scores (n_alphas, voxels)); ties go
    to the smaller alpha.
    """
    xp = _backend(backend)
    alphas = _check_alphas(alphas)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {tuple(METRICS)}, got {metric!r}")
    score = METRICS[metric]
    _check_rows(X, Y)
    gram = _gram(X)
    X_dev = xp.asarray(X)
    folds_dev = []
    for train, val in folds:
        if len(train) + len(val) != len(X) or len(np.union1d(train, val)) != len(X):
            raise ValueError("each fold must split all rows into training and validation rows")
        eigvals, eigvecs = _eigh(gram - _gram(X[val]))
        eigvecs = xp.asarray(eigvecs.astype(X.dtype))
        shrink = xp.asarray((1.0 / (eigvals[None, :] + alphas[:, None])).astype(X.dtype))  # (alphas, features)
        X_val = xp.asarray(X[val])
        folds_dev.append((xp.asarray(val), X_val, X_val @ eigvecs, eigvecs, shrink))
    scores = np.zeros((len(alphas), Y.shape[1]))
    for cols in _batches(Y.shape[1], voxel_batch):
        Y_batch = xp.asarray(Y[:, cols])
        XtY = X_dev.T @ Y_batch  # (features, batch)
        for val, X_val, val_eig, eigvecs, shrink in folds_dev:
            target = Y_batch[val]
            projected = eigvecs.T @ (XtY - X_val.T @ target)  # training rows only
            for i in range(len(alphas)):
                prediction = (val_eig * shrink[i][None, :]) @ projected
                scores[i, cols] += score(prediction, target, xp)
    scores /= len(folds)
    best = scores.argmax(0)
    return alphas[best], scores[best, np.arange(Y.shape[1])], scores


def ridge_predict(
    X_train: np.ndarray,
    Y_train: np.ndarray,
    X_test: np.ndarray,
    alpha: np.ndarray | float,
    *,
    voxel_batch: int = 8192,
    backend: str = "numpy",
) -> np.ndarray:
    """Fit ridge on (X_train, Y_train) with one alpha per voxel and predict X_test.

    X_train: (rows, features); Y_train: (rows, voxels); X_test: (test rows, features);
    alpha: scalar or (voxels,). Returns (test rows, voxels) in X_train's dtype.
    """
    xp = _backend(backend)
    _check_rows(X_train, Y_train)
    alpha = _check_alphas(np.atleast_1d(alpha))
    if alpha.size == 1:
        alpha = np.full(Y_train.shape[1], alpha[0])
    if alpha.shape != (Y_train.shape[1],):
        raise ValueError(f"alpha has {alpha.size} values for {Y_train.shape[1]} voxels")
    eigvals, eigvecs = _eigh(_gram(X_train))
    eigvecs = xp.asarray(eigvecs.astype(X_train.dtype))
    X_dev = xp.asarray(X_train)
    test_eig = xp.asarray(X_test.astype(X_train.dtype, copy=False)) @ eigvecs  # (test rows, features)
    out = np.empty((X_test.shape[0], Y_train.shape[1]), dtype=X_train.dtype)
    for cols in _batches(Y_train.shape[1], voxel_batch):
        shrink = xp.asarray((1.0 / (eigvals[:, None] + alpha[None, cols])).astype(X_train.dtype))  # (features, batch)
        projected = eigvecs.T @ (X_dev.T @ xp.asarray(Y_train[:, cols]))
        out[:, cols] = xp.to_numpy(test_eig @ (shrink * projected))
    return out


def fit_encoding_model(
    X_train: np.ndarray,
    Y_train: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    X_test: np.ndarray,
    Y_test: np.ndarray,
    alphas: Sequence[float],
    *,
    metric: str = "correlation",
    voxel_batch: int = 8192,
    backend: str = "numpy",
) -> EncodingResult:
    """Choose alphas on the training rows' folds, refit on all training rows, score the test rows.

    X_train: (rows, features) and Y_train: (rows, voxels), training stories stacked;
    folds: [(train rows, validation rows)] over them (story_folds or chunk_folds);
    X_test: (test rows, features); Y_test: (test rows, voxels), the repeat-averaged test
    response. Y_test is only used to compute r: alpha choice and prediction never see it.
    """
    _check_rows(X_test, Y_test)
    alpha, cv_score, _ = select_alphas(X_train, Y_train, folds, alphas, metric=metric, voxel_batch=voxel_batch,
                                       backend=backend)
    prediction = ridge_predict(X_train, Y_train, X_test, alpha, voxel_batch=voxel_batch, backend=backend)
    return EncodingResult(
        r=pearson_r(prediction, Y_test).astype(np.float32),
        alpha=alpha.astype(np.float32),
        cv_score=cv_score.astype(np.float32),
        prediction=prediction,
    )


def correlation_score(prediction, target, xp) -> np.ndarray:
    """Pearson r per voxel (float64 numpy) of a (rows, voxels) prediction on the backend `xp`."""
    return _finish_r(*(xp.to_numpy(p).astype(np.float64) for p in _r_parts(prediction, target)))


def variance_explained_score(prediction, target, xp) -> np.ndarray:
    """Huth-lab "variance explained" sign(R2) sqrt(|R2|) per voxel (float64 numpy), R2 = 1 - var(y - p) /
    ((1 + var(y)) / 2), of a (rows, voxels) prediction on the backend `xp`."""
    residual = target - prediction
    residual, centred = residual - residual.mean(0), target - target.mean(0)  # variances on the device
    residual_var, target_var = (xp.to_numpy((a * a).mean(0)).astype(np.float64) for a in (residual, centred))
    rsq = 1.0 - residual_var / ((1.0 + target_var) / 2.0)
    return np.nan_to_num(np.sign(rsq) * np.sqrt(np.abs(rsq)))


def _r_parts(a, b):
    """Sums behind Pearson r per column: (sum a'b', sum a'^2, sum b'^2) with ' = centred."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0), (a * a).sum(0), (b * b).sum(0)


def _finish_r(cross, aa, bb):
    denom = np.sqrt(aa * bb)
    return np.divide(cross, denom, out=np.zeros_like(cross), where=denom > 0)


def _gram(X: np.ndarray) -> np.ndarray:
    """X^T X in float64. X: (rows, features) -> (features, features)"""
    X = np.asarray(X, dtype=np.float64)
    return X.T @ X


def _eigh(gram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (clipped at 0: a Gram matrix has none below) and eigenvectors, float64."""
    import scipy.linalg

    eigvals, eigvecs = scipy.linalg.eigh(gram, check_finite=False)
    return np.clip(eigvals, 0.0, None), eigvecs


def _batches(n: int, size: int):
    if size < 1:
        raise ValueError(f"voxel_batch must be positive, got {size}")
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _check_alphas(alphas) -> np.ndarray:
    alphas = np.asarray(alphas, dtype=np.float64)
    if alphas.ndim != 1 or alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {alphas!r}")
    return alphas


def _check_rows(X, Y):
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"features have {X.shape[0]} rows but responses have {Y.shape[0]}")


# The validation scores that choose alphas: name -> score(prediction, target, xp) -> (voxels,) float64.
METRICS = {"correlation": correlation_score, "variance_explained": variance_explained_score}
BACKENDS = ("numpy", "torch", "torch_cuda", "torch_mps", "cupy")  # himalaya's backend modules braintune supports
AUTO = "auto"  # torch_cuda where a GPU is visible, else numpy (resolve_backend)


def resolve_backend(name: str) -> str:
    """The himalaya backend `name` names: itself, or for AUTO torch_cuda where a GPU is visible, else numpy."""
    if name != AUTO:
        return name
    import torch

    return "torch_cuda" if torch.cuda.is_available() else "numpy"


def _backend(name: str):
    """The himalaya backend module called ``name``, without changing himalaya's global backend."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return importlib.import_module(f"himalaya.backend.{name}")
