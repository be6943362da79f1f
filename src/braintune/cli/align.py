"""`braintune align`: layer-wise brain alignment of one model with fMRI participants."""

from __future__ import annotations

import argparse

from braintune.cli._features import add_feature_arguments, scheme_from_args

NAME = "align"
HELP = "fit voxelwise ridge encoding models per layer and write noise-ceiling-normalised alignment by ROI"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from braintune.encoding import DEFAULT_ALPHAS, DEFAULT_THRESHOLD
    from braintune.encoding.ridge import DEFAULT_VOXEL_BATCH

    parser.add_argument("--data", required=True, help="ds003020-layout dataset folder (real or simulated)")
    parser.add_argument("--model", required=True, help="model id (e.g. facebook/hubert-base-ls960, tiny:wav2vec2) or folder")
    parser.add_argument("--subjects", nargs="+", required=True, metavar="UTSxx", help="participants, e.g. UTS01 UTS02")
    parser.add_argument("--layers", nargs="+", default=["all"], help="'all' (default) or layer indices, 0 = CNN output")
    parser.add_argument("--out", required=True, help="output folder: alignment.csv/.parquet and voxels/...npz")
    parser.add_argument("--cache", default=None, help="feature cache folder (default OUT/cache/features)")
    add_feature_arguments(parser)
    parser.add_argument(
        "--alphas", nargs="+", type=float, default=list(DEFAULT_ALPHAS),
        help="ridge penalties, himalaya convention alpha*||b||^2 (a Huth-lab alpha a is a**2 here); "
             "default 10 values log-spaced 1e1..1e4",
    )
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="noise-ceiling threshold (default 0.05)")
    parser.add_argument("--folds", type=int, default=5, help="leave-stories-out folds for alpha choice (default 5)")
    parser.add_argument("--voxel-batch", type=int, default=DEFAULT_VOXEL_BATCH, help="voxels per batch (memory bound)")
    parser.add_argument("--backend", default="numpy", help="ridge backend (himalaya's): numpy (default), torch, torch_cuda")


def run(args: argparse.Namespace) -> int:
    from braintune.errors import ConfigError
    from braintune.alignment import run_alignment

    if args.layers == ["all"]:
        layers = "all"
    else:
        try:
            layers = [int(layer) for layer in args.layers]
        except ValueError:
            raise ConfigError(f"--layers takes 'all' or integers, got {' '.join(args.layers)}") from None
    table = run_alignment(
        args.data, args.model, args.subjects, args.out, layers=layers, cache_dir=args.cache,
        scheme=scheme_from_args(args), dtype=args.dtype, alphas=args.alphas, threshold=args.threshold, n_folds=args.folds, voxel_batch=args.voxel_batch,
        backend=args.backend, device=args.device,
    )
    print(f"{len(table)} rows written to {args.out}/alignment.csv and alignment.parquet")
    return 0
