"""Time and peak memory of one layer's encoding model on random data (not a test).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/align.py            # small: 5,000 voxels x 2,000 TRs x 768
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/align.py --full     # 100,000 voxels x 9,000 TRs x 3,072 (minutes)

One "layer" = braintune.encoding.fit_encoding_model: alpha choice over leave-stories-out
folds, refit on all training stories, prediction and r on a test story. With --himalaya
(default for the small size), himalaya's solve_ridge_cv_svd solves the same problem (same
folds, correlation score, same voxel batches) and the script prints the time ratio and
whether the chosen alphas and predictions agree; with --repeat N the two run alternately N times
and the ratio uses the best time of each (the machine may be shared).

Memory: the responses array is allocated before timing; "solver peak" is tracemalloc's
peak of numpy allocations during the fit (responses excluded), "process peak" is
ru_maxrss (everything, including the responses).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import himalaya.backend.numpy  # noqa: F401  (imported before timing: its import takes seconds)
import numpy as np

from braintune.alignment.settings import AlignSettings
from braintune.encoding import fit_encoding_model, story_folds

GIB = 1024**3


def random_problem(n_voxels: int, n_rows: int, n_features: int, n_test: int, n_stories: int, seed: int):
    """Random features and responses (each voxel a random read-out of the features plus noise), float32."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows + n_test, n_features), dtype=np.float32)
    Y = np.empty((n_rows + n_test, n_voxels), dtype=np.float32)
    for start in range(0, n_voxels, 10_000):
        cols = slice(start, min(start + 10_000, n_voxels))
        W = rng.standard_normal((n_features, cols.stop - start), dtype=np.float32) / np.float32(np.sqrt(n_features))
        Y[:, cols] = X @ W
        Y[:, cols] += rng.standard_normal((len(Y), cols.stop - start), dtype=np.float32) * np.float32(2.0)
    story_rows = [len(a) for a in np.array_split(np.arange(n_rows), n_stories)]
    return X[:n_rows], Y[:n_rows], story_rows, X[n_rows:], Y[n_rows:]


def run_himalaya(X, Y, story_rows, X_test, alphas, n_folds, voxel_batch):
    from himalaya.ridge import solve_ridge_cv_svd
    from himalaya.scoring import correlation_score
    from sklearn.model_selection import PredefinedSplit

    test_fold = np.zeros(len(X), dtype=int)
    for i, (_, val) in enumerate(story_folds(story_rows, n_folds)):
        test_fold[val] = i
    best, coefs, _ = solve_ridge_cv_svd(
        X, Y, alphas=np.asarray(alphas, dtype=X.dtype), cv=PredefinedSplit(test_fold), score_func=correlation_score,
        n_targets_batch=voxel_batch, n_targets_batch_refit=voxel_batch, warn=False,
    )
    return np.asarray(best), X_test @ np.asarray(coefs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="100,000 voxels x 9,000 TRs x 3,072 features")
    parser.add_argument("--voxels", type=int, default=None)
    parser.add_argument("--trs", type=int, default=None, help="training rows")
    parser.add_argument("--features", type=int, default=None)
    parser.add_argument("--test-trs", type=int, default=291)
    parser.add_argument("--stories", type=int, default=25)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--alphas", type=int, default=10, help="number of alphas, log-spaced 1e1..1e4 (default 10)")
    parser.add_argument("--voxel-batch", type=int, default=AlignSettings().voxel_batch)
    parser.add_argument("--himalaya", action=argparse.BooleanOptionalAction, default=None,
                        help="also run himalaya on the same problem (default: on for the small size only)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each solver when comparing (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    size = (100_000, 9_000, 3_072) if args.full else (5_000, 2_000, 768)
    n_voxels, n_rows, n_features = (given or default for given, default in zip((args.voxels, args.trs, args.features), size))
    himalaya = (not args.full) if args.himalaya is None else args.himalaya
    alphas = np.logspace(1, 4, args.alphas)

    print(f"problem: {n_voxels} voxels x {n_rows} training TRs ({args.stories} stories, {args.folds} folds) x "
          f"{n_features} features, {args.test_trs} test TRs, {len(alphas)} alphas, voxel batch {args.voxel_batch}")
    t0 = time.perf_counter()
    X, Y, story_rows, X_test, Y_test = random_problem(n_voxels, n_rows, n_features, args.test_trs, args.stories, args.seed)
    print(f"data: responses {Y.nbytes / GIB:.2f} GiB, generated in {time.perf_counter() - t0:.1f} s")

    def ours():
        return fit_encoding_model(X, Y, story_folds(story_rows, args.folds), X_test, Y_test, alphas,
                                  voxel_batch=args.voxel_batch)

    def theirs():
        return run_himalaya(X, Y, story_rows, X_test, alphas, args.folds, args.voxel_batch)

    tracemalloc.start()
    result, seconds = _timed(ours)
    _, solver_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(f"braintune: {seconds:.2f} s per layer; solver peak {solver_peak / GIB:.2f} GiB; "
          f"process peak {process_peak / GIB:.2f} GiB; median test r {np.median(result.r):.3f}")
    if process_peak > 12 * GIB:
        print("WARNING: process peak above 12 GiB")

    if himalaya:
        (best, prediction), seconds_h = _timed(theirs)
        ours_s, theirs_s = [seconds], [seconds_h]
        for _ in range(args.repeat - 1):  # alternate, so both see the same load on a shared machine
            ours_s.append(_timed(ours)[1])
            theirs_s.append(_timed(theirs)[1])
        same = np.mean(np.isclose(best, result.alpha, rtol=1e-4))
        diff = np.abs(prediction - result.prediction).max() / np.abs(prediction).max()
        print(f"braintune times {_fmt(ours_s)} s; himalaya solve_ridge_cv_svd times {_fmt(theirs_s)} s; "
              f"ratio of best times himalaya/braintune {min(theirs_s) / min(ours_s):.2f}")
        print(f"same alpha for {100 * same:.2f}% of voxels; max |prediction difference| / max |prediction| {diff:.1e}")
    return 0


def _timed(function):
    start = time.perf_counter()
    out = function()
    return out, time.perf_counter() - start


def _fmt(seconds):
    return " ".join(f"{s:.2f}" for s in seconds)


if __name__ == "__main__":
    sys.exit(main())
