"""`braintune report RUN_DIR`: rebuild the summaries, Figures 1 and 2 and report.html."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"
HELP = "rebuild Figures 1 and 2, summary tables and report.html from a run folder's tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by `braintune run`")


def run(args: argparse.Namespace) -> int:
    from braintune.report import build_report

    print(build_report(args.run_dir, roi_values=_roi_values(Path(args.run_dir) / "config.yaml")))
    return 0


def _roi_values(config_path: Path) -> str | None:
    """How the run's ROI values were made, from its config.yaml's align section (None where it does
    not read or no longer validates, e.g. an atlas moved since)."""
    import yaml

    from braintune.alignment.settings import AlignSettings
    from braintune.errors import ConfigError, DataError
    from braintune.settings import from_mapping

    try:
        align = (yaml.safe_load(config_path.read_text("utf-8")) or {}).get("align")
        return from_mapping(AlignSettings, align, "align.").roi_values()
    except (OSError, yaml.YAMLError, AttributeError, ConfigError, DataError):
        return None
