"""Atomic writes: a file is either absent or complete, never half-written.

Every stage writes through these, so a run killed at any moment leaves only whole files
(a temporary `.NAME.tmp-HOST-PID.SUFFIX` beside the target at worst), and a rerun resumes from
them; `remove_stale_temporaries` clears what killed processes of this host left behind.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Callable

import pandas as pd

log = logging.getLogger(__name__)

_TEMPORARY = re.compile(r"\.tmp-(?P<host>[^/]+)-(?P<pid>\d+)(?:\.[^/]*)?$")


def temporary_path(path: str | os.PathLike) -> Path:
    """Where to write `path` before renaming it into place: `.NAME.tmp-HOST-PID.SUFFIX` beside it
    (a folder: `NAME.tmp-HOST-PID`). The suffix is kept, so writers that pick a format from it
    (numpy, pandas, soundfile) write where they are told."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{socket.gethostname()}-{os.getpid()}{path.suffix}")


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporaries (temporary_path) under `folder` whose process is gone: written on
    this host by a pid that no longer runs. Those of live processes and other hosts stay.
    Returns how many were removed."""
    host, removed = socket.gethostname(), 0
    for path in sorted(Path(folder).rglob("*.tmp-*"), reverse=True):
        match = _TEMPORARY.search(path.name)
        if not match or match["host"] != host or _alive(int(match["pid"])):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.info("%s: removed %d temporary file(s) left by killed runs", folder, removed)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def write_atomic_with(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` to produce the file at temporary_path(path), then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_atomic(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write text or bytes to `path` atomically."""
    if isinstance(data, str):
        return write_atomic_with(path, lambda tmp: tmp.write_text(data))
    return write_atomic_with(path, lambda tmp: tmp.write_bytes(data))


def write_table(table: pd.DataFrame, out_dir: str | os.PathLike, name: str) -> Path:
    """Write `table` as out_dir/<name>.csv and out_dir/<name>.parquet, each atomically; returns the CSV."""
    out_dir = Path(out_dir)
    write_atomic_with(out_dir / f"{name}.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    return write_atomic_with(out_dir / f"{name}.csv", lambda tmp: table.to_csv(tmp, index=False))
