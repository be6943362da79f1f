"""`braintune extract`: cache the layer-wise features of a model on the stories of a ds003020 folder."""

from __future__ import annotations

import argparse

NAME = "extract"
HELP = "extract and cache a speech model's hidden states for the stories of a ds003020 folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="ds003020-layout folder (real or simulated)")
    parser.add_argument("--model", required=True, help='hub id in the local HF cache, a save_pretrained folder, or "tiny:<family>"')
    parser.add_argument("--stories", nargs="+", help="stories to extract (default: all in respdict.json)")
    parser.add_argument("--cache", required=True, help="feature cache folder")
    parser.add_argument("--scheme", choices=("fast", "reference"), default="fast")
    parser.add_argument("--step", type=float, default=0.1, help="seconds between feature times (default 0.1)")
    parser.add_argument("--context", type=float, default=16.0, help="seconds of audio before each frame (default 16)")
    parser.add_argument("--chunk", type=float, default=1.2, help="fast scheme: window stride in s, a multiple of 0.02 (default 1.2)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="bfloat16: autocast compute")
    parser.add_argument("--device", help="torch device (default: cuda if available, else cpu)")


def run(args: argparse.Namespace) -> int:
    from braintune.data.ds003020 import Dataset
    from braintune.features import Scheme, step_features

    dataset = Dataset(args.data)
    scheme = Scheme(args.scheme, step=args.step, context=args.context, chunk=args.chunk)
    stories = args.stories or dataset.stories
    for story, times, features in step_features(
        args.model, dataset, stories, cache_dir=args.cache, scheme=scheme, device=args.device, dtype=args.dtype
    ):
        print(f"{story}: {features.shape[0]} layers x {len(times)} steps x {features.shape[2]} features")
    return 0
