"""Flags shared by the subcommands that read an fMRI folder or the probe corpora."""

from __future__ import annotations

import argparse


def add_fmri_arguments(parser: argparse.ArgumentParser, required: bool = True) -> None:
    """--data DIR and --layout NAME (braintune.data.fmri.LAYOUTS)."""
    from braintune.data.fmri import DEFAULT_LAYOUT, LAYOUTS

    parser.add_argument("--data", required=required, help="fMRI dataset folder (real or simulated)")
    parser.add_argument("--layout", default=DEFAULT_LAYOUT, choices=sorted(LAYOUTS),
                        help=f"on-disk layout of --data (default: {DEFAULT_LAYOUT})")


def open_fmri(args: argparse.Namespace):
    """The dataset --data names, in --layout."""
    from braintune.data.fmri import open_dataset

    return open_dataset(args.layout, args.data)


def add_corpus_arguments(parser: argparse.ArgumentParser) -> None:
    """One --<corpus> DIR flag per probe corpus (braintune.data.corpora.PROBE_CORPORA)."""
    from braintune.data.corpora import PROBE_CORPORA

    for corpus in PROBE_CORPORA.values():
        parser.add_argument(corpus.flag, dest=corpus.name, help=corpus.folder)


def corpus_folders(args: argparse.Namespace) -> dict:
    """Probe corpus name -> the folder its flag gave (None where not given)."""
    from braintune.data.corpora import PROBE_CORPORA

    return {name: getattr(args, name) for name in PROBE_CORPORA}
