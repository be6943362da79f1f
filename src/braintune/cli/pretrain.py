"""`braintune pretrain`: pretrain a small speech encoder by HuBERT's masked prediction.

    braintune pretrain --out runs/pretrain                  # stand-in corpus, the shipped recipe
    braintune pretrain --out runs/mine --corpus DIR --epochs 20 --num-layers 8

A rerun of the same command resumes. Every field of PretrainSettings is a flag (--field-name).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from braintune.models.pretrain import PretrainSettings

NAME = "pretrain"
HELP = "pretrain a small speech encoder by masked prediction (HuBERT); writes OUT/model with its card"


def add_settings_arguments(parser: argparse.ArgumentParser, settings_class: type) -> None:
    """One flag --field-name per field of the dataclass `settings_class`, typed by its annotation,
    helped by its metadata["help"], default None (= the dataclass default)."""
    group = parser.add_argument_group(f"settings ({settings_class.__name__})")
    hints = typing.get_type_hints(settings_class)
    for field in dataclasses.fields(settings_class):
        kind = next(t for t in typing.get_args(hints[field.name]) or [hints[field.name]] if t is not type(None))
        extra = {"action": argparse.BooleanOptionalAction} if kind is bool else {"type": kind, "metavar": kind.__name__.upper()}
        group.add_argument("--" + field.name.replace("_", "-"), default=None,
                           help=f"{field.metadata['help']} (default {field.default})", **extra)


def settings_from_args(settings_class: type, args: argparse.Namespace):
    """The dataclass with the flags that were given, its defaults for the rest."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(settings_class)}
    return settings_class(**{name: value for name, value in given.items() if value is not None})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="run folder (resumed if it holds the same run); model in OUT/model")
    parser.add_argument("--corpus", help="folder of recordings (WAV/FLAC/SPHERE) to pretrain on "
                                         "(default: generate the stand-in corpus in OUT/corpus)")
    parser.add_argument("--no-probes", action="store_true", help="skip the probes of the card")
    parser.add_argument("--stop-after-epoch", type=int, metavar="N", help="stop after N epochs (rerun to resume)")
    add_settings_arguments(parser, PretrainSettings)


def run(args: argparse.Namespace) -> int:
    from braintune.models.pretrain import pretrain

    settings = settings_from_args(PretrainSettings, args)
    print(pretrain(args.out, settings, args.corpus, probes=not args.no_probes, stop_after_epoch=args.stop_after_epoch))
    return 0
