"""Atomic writes: a file is either absent or complete, never half-written.

Every stage writes through these, so a run killed at any moment leaves only whole files
(a temporary `.NAME.tmp-PID.SUFFIX` beside the target at worst), and a rerun resumes from them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pandas as pd


def write_atomic_with(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` to produce the file at a temporary path, then rename it to `path`.

    The temporary name keeps the suffix (`.x.tmp-PID.npy`), so writers that add a missing
    suffix (numpy) or pick a format from it (pandas, soundfile) write where they are told.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
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
