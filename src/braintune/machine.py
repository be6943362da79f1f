"""The machine a figure was measured on, named in cards and benchmark output."""

from __future__ import annotations

import platform
import subprocess


def cpu_model() -> str:
    """The CPU's model name (lscpu's "Model name"; the platform's processor where lscpu is missing)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or platform.machine()
