"""`braintune report RUN_DIR`: rebuild the summaries, Figures 1 and 2 and report.html."""

from __future__ import annotations

import argparse

NAME = "report"
HELP = "rebuild Figures 1 and 2, summary tables and report.html from a run folder's tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by `braintune run`")


def run(args: argparse.Namespace) -> int:
    from braintune.report import build_report

    print(build_report(args.run_dir))
    return 0
