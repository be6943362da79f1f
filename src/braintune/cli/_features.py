"""Command-line options of feature extraction, shared by `braintune extract` and `braintune align`."""

from __future__ import annotations

import argparse


def add_feature_arguments(parser: argparse.ArgumentParser) -> None:
    """--scheme --step --context --chunk --dtype --device, defaults those of braintune.features.Scheme."""
    parser.add_argument("--scheme", choices=("fast", "reference"), default="fast", help="extraction scheme (default fast)")
    parser.add_argument("--step", type=float, default=0.1, help="seconds between feature times (default 0.1)")
    parser.add_argument("--context", type=float, default=16.0, help="seconds of audio before each frame (default 16)")
    parser.add_argument("--chunk", type=float, default=None, help="fast scheme: window stride in s, a multiple of 0.02 (default: the Scheme's)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="bfloat16: autocast compute")
    parser.add_argument("--device", help="torch device of the speech model (default: cuda if available, else cpu)")


def scheme_from_args(args: argparse.Namespace):
    """The braintune.features.Scheme the options describe."""
    from braintune.features import Scheme

    chunk = {} if args.chunk is None else {"chunk": args.chunk}
    return Scheme(args.scheme, step=args.step, context=args.context, **chunk)
