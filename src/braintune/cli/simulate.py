"""`braintune simulate OUT`: write simulated participants in the ds003020 layout."""

from __future__ import annotations

import argparse
import logging

NAME = "simulate"
HELP = "write simulated fMRI participants (espeak-ng stories, known voxel signals) in the ds003020 layout"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from braintune.cli._generators import generator_defaults

    d = generator_defaults("braintune.synthetic.fmri", "simulate_dataset")
    low, high = (seconds / 60 for seconds in d["story_seconds"])
    parser.add_argument("out", help="output folder (created; existing files of the same names are replaced)")
    parser.add_argument("--participants", type=int, default=d["n_participants"],
                        help=f"number of participants UTS01.. (default {d['n_participants']})")
    parser.add_argument("--train-stories", type=int, default=d["n_train_stories"],
                        help=f"training stories besides the validation and test stories (default {d['n_train_stories']})")
    parser.add_argument("--story-minutes", type=float, nargs=2, default=(low, high), metavar=("MIN", "MAX"),
                        help=f"story lengths are drawn uniformly in [MIN, MAX] minutes (default {low:g} {high:g})")
    parser.add_argument("--test-story-minutes", type=float, default=None, help="length of the test story (default MAX)")
    parser.add_argument("--repeats", type=int, default=d["n_repeats"],
                        help=f"presentations of the test story (default {d['n_repeats']})")
    parser.add_argument("--voxels", type=int, default=d["n_voxels"],
                        help=f"voxels per participant, each varies x0.8-1.2 (default {d['n_voxels']})")
    parser.add_argument("--tr", type=float, default=d["tr"], help=f"repetition time in seconds (default {d['tr']})")
    parser.add_argument("--seed", type=int, default=d["seed"], help=f"random seed (default {d['seed']})")


def run(args: argparse.Namespace) -> int:
    from braintune.synthetic.fmri import simulate_dataset

    lo, hi = args.story_minutes
    out = simulate_dataset(
        args.out,
        n_participants=args.participants,
        n_train_stories=args.train_stories,
        story_seconds=(60.0 * lo, 60.0 * hi),
        test_story_seconds=None if args.test_story_minutes is None else 60.0 * args.test_story_minutes,
        n_repeats=args.repeats,
        n_voxels=args.voxels,
        tr=args.tr,
        seed=args.seed,
    )
    logging.getLogger(__name__).info("simulated dataset written to %s", out)
    return 0
