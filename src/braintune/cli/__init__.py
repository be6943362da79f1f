"""The `braintune` command. It only parses arguments and calls library functions.

Each subcommand is a module in this package defining:
    NAME: str          the subcommand
    HELP: str          one line for `braintune --help`
    add_arguments(parser: argparse.ArgumentParser) -> None
    run(args: argparse.Namespace) -> int | None
Modules are discovered, so adding a subcommand touches no other file.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from braintune import __version__
from braintune.errors import BraintuneError


def _subcommands():
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NAME"):
            mods.append(mod)
    return sorted(mods, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="braintune",
        description="Brain-tune speech models on fMRI and measure layer-wise brain alignment and probing.",
    )
    parser.add_argument("--version", action="version", version=f"braintune {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _subcommands():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def one_line(exc: BaseException) -> str:
    """The error as one line: an OSError as "PATH: what went wrong" (a full disk, a read-only
    folder, a file where a folder should be ...), anything else as its message."""
    text = str(exc)
    if isinstance(exc, OSError) and not isinstance(exc, BraintuneError) and exc.strerror:
        where = exc.filename if exc.filename is not None else "a file"
        text = f"{where}: {exc.strerror}" + (f" (and {exc.filename2})" if exc.filename2 else "")
    return " ".join(text.split()) or type(exc).__name__


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse `argv`; `key=value` overrides may stand anywhere, also after options.

    argparse fills a positional list (`overrides`) only up to the first option; the
    key=value words after it come back unrecognised and join the overrides here.
    """
    args, extra = parser.parse_known_args(argv)
    overrides = [word for word in extra if "=" in word and not word.startswith("-")]
    if len(overrides) < len(extra) or (overrides and not isinstance(getattr(args, "overrides", None), list)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if overrides:
        args.overrides += overrides
    return args


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (BraintuneError, OSError) as exc:
        if args.verbose:
            raise
        print(f"braintune {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; finished outputs are kept and the next run resumes from them", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
