"""Command-line options of feature extraction, shared by `braintune extract` and `braintune align`."""

from __future__ import annotations

import argparse


def add_feature_arguments(parser: argparse.ArgumentParser) -> None:
    """--scheme --step --context --chunk --dtype --device; unset ones keep braintune.features.Scheme's defaults."""
    parser.add_argument("--scheme", choices=("fast", "reference"), default="fast", help="extraction scheme (default fast)")
    parser.add_argument("--step", type=float, help="seconds between feature times (default 0.1)")
    parser.add_argument("--context", type=float, help="seconds of audio before each frame (default 16)")
    parser.add_argument("--chunk", type=float, help="fast scheme: window stride in s, a multiple of 0.02 (default 0.8)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="bfloat16: autocast compute")
    parser.add_argument("--device", help="torch device of the speech model (default: cuda if available, else cpu)")


def scheme_from_args(args: argparse.Namespace):
    """The braintune.features.Scheme the options describe."""
    from braintune.features import Scheme

    given = {name: getattr(args, name) for name in ("step", "context", "chunk") if getattr(args, name) is not None}
    return Scheme(args.scheme, **given)
