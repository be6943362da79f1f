"""`braintune extract`: cache the layer-wise features of a model on the stories of an fMRI folder."""

from __future__ import annotations

import argparse

NAME = "extract"
HELP = "extract and cache a speech model's hidden states for the stories of an fMRI folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from braintune.cli._data import add_fmri_arguments
    from braintune.features.settings import Scheme
    from braintune.settings import add_arguments as add_owner

    add_fmri_arguments(parser)
    parser.add_argument("--model", required=True, help='hub id in the local HF cache, a save_pretrained folder, or "tiny:<family>"')
    parser.add_argument("--stories", nargs="+", help="stories to extract (default: every story of the dataset)")
    parser.add_argument("--cache", required=True, help="feature cache folder")
    parser.add_argument("--device", help="torch device of the speech model (default: cuda if available, else cpu)")
    add_owner(parser.add_argument_group("extraction"), Scheme)


def run(args: argparse.Namespace) -> int:
    from braintune.cli._data import open_fmri
    from braintune.features import step_features
    from braintune.features.settings import Scheme
    from braintune.settings import from_arguments

    dataset = open_fmri(args)
    stories = args.stories or dataset.stories
    for story, times, features in step_features(
        args.model, dataset, stories, cache_dir=args.cache, scheme=from_arguments(Scheme, args), device=args.device
    ):
        print(f"{story}: {features.shape[0]} layers x {len(times)} steps x {features.shape[2]} features")
    return 0
