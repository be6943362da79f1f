"""`braintune align`: layer-wise brain alignment of one model with fMRI participants."""

from __future__ import annotations

import argparse

NAME = "align"
HELP = "fit voxelwise ridge encoding models per layer and write noise-ceiling-normalised alignment by ROI"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from braintune.alignment.settings import AlignSettings
    from braintune.cli._data import add_fmri_arguments
    from braintune.data.fmri import SplitSettings
    from braintune.features.settings import Scheme
    from braintune.settings import add_arguments as add_owner

    add_fmri_arguments(parser)
    parser.add_argument("--model", required=True, help="model id (e.g. facebook/hubert-base-ls960, tiny:wav2vec2) or folder")
    parser.add_argument("--subjects", nargs="+", required=True, metavar="UTSxx",
                        help="participants, e.g. UTS01 UTS02 (the group whose shared stories train)")
    parser.add_argument("--layers", nargs="+", default=["all"], help="'all' (default) or layer indices, 0 = CNN output")
    parser.add_argument("--out", required=True, help="output folder: alignment.csv/.parquet and voxels/...npz")
    parser.add_argument("--cache", default=None, help="feature cache folder (default OUT/cache/features)")
    parser.add_argument("--device", help="torch device of the speech model (default: cuda if available, else cpu)")
    add_owner(parser.add_argument_group("extraction"), Scheme)
    add_owner(parser.add_argument_group("encoding models"), AlignSettings)
    add_owner(parser.add_argument_group("stories"), SplitSettings)


def run(args: argparse.Namespace) -> int:
    from braintune.alignment import run_alignment
    from braintune.alignment.settings import AlignSettings
    from braintune.cli._data import open_fmri
    from braintune.data.fmri import SplitSettings
    from braintune.features.settings import Scheme
    from braintune.settings import from_arguments

    table = run_alignment(
        open_fmri(args), args.model, args.subjects, args.out, layers=args.layers,
        cache_dir=args.cache, scheme=from_arguments(Scheme, args), settings=from_arguments(AlignSettings, args),
        split=from_arguments(SplitSettings, args), device=args.device,
    )
    print(f"{len(table)} rows written to {args.out}/alignment.csv and alignment.parquet")
    return 0
