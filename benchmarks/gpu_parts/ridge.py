"""4. Ridge per layer: braintune.encoding.fit_encoding_model by the study's alignment protocol."""

from __future__ import annotations

import math

import numpy as np
import torch

from gpu_parts.machine import peak_gib, reset_peak, timed
from gpu_parts.sizes import Measure


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
    """Seconds of one layer's fit_encoding_model at `measure`'s size by the study's `align`
    settings (AlignSettings): its protocol's fold rule over `n_stories` stories of equal length
    (their rows stacked), its metric, alphas and voxel batch; backend torch_cuda on a GPU."""
    from braintune.encoding import fit_encoding_model

    backend = "torch_cuda" if device.type == "cuda" else "numpy"
    X, Y, X_test, Y_test = random_problem(measure.ridge_voxels, measure.ridge_rows, measure.ridge_features,
                                          measure.ridge_test_rows, device)
    rules = align.rules
    story_rows = [len(rows) for rows in np.array_split(np.arange(measure.ridge_rows), n_stories)]
    rules.folds.check("the timed ridge", [f"story {i}" for i in range(n_stories)], story_rows, align)
    folds = rules.folds.folds(story_rows, align)
    reset_peak(device)
    result, seconds = timed(device, lambda: fit_encoding_model(
        X, Y, folds, X_test, Y_test, align.alphas, metric=rules.metric, voxel_batch=align.voxel_batch, backend=backend))
    return {"voxels": measure.ridge_voxels, "rows": measure.ridge_rows, "features": measure.ridge_features,
            "test_rows": measure.ridge_test_rows, "stories": n_stories, "alphas": len(align.alphas),
            "protocol": rules.name, "fold_rule": type(rules.folds).__name__, "folds": len(folds),
            "metric": rules.metric, "voxel_batch": align.voxel_batch, "backend": backend, "seconds": seconds,
            "peak_gib": peak_gib(device), "median_test_r": float(np.median(result.r))}
