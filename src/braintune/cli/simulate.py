"""`braintune simulate OUT`: write simulated participants in the ds003020 layout."""

from __future__ import annotations

import argparse
import logging

NAME = "simulate"
HELP = "write simulated fMRI participants (espeak-ng stories, known voxel signals) in the ds003020 layout"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="output folder (created; existing files of the same names are replaced)")
    parser.add_argument("--participants", type=int, default=2, help="number of participants UTS01.. (default 2)")
    parser.add_argument("--train-stories", type=int, default=6, help="training stories besides the validation and test stories (default 6)")
    parser.add_argument("--story-minutes", type=float, nargs=2, default=(1.0, 2.0), metavar=("MIN", "MAX"),
                        help="story lengths are drawn uniformly in [MIN, MAX] minutes (default 1 2)")
    parser.add_argument("--test-story-minutes", type=float, default=None, help="length of the test story (default MAX)")
    parser.add_argument("--repeats", type=int, default=10, help="presentations of the test story (default 10)")
    parser.add_argument("--voxels", type=int, default=400, help="voxels per participant, each varies x0.8-1.2 (default 400)")
    parser.add_argument("--tr", type=float, default=2.0, help="repetition time in seconds (default 2.0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


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
