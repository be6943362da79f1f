"""Atomic writes: a file is either absent or complete, never half-written.

Every stage writes through these, so a run killed at any moment leaves only whole files
(a temporary `.NAME.tmp-HOST-PID.SUFFIX` beside the target at worst), and a rerun resumes from
them; `remove_stale_temporaries` clears what killed processes of this host left behind.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
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
    """Call `write(tmp)` to produce the file at temporary_path(path), then rename it to `path`.

    If it fails, the temporary is removed and `path` is left as it was; a failure because the
    disk is full is an OSError(ENOSPC) naming `path` and the free space (disk_full_error).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except Exception as exc:
        full = disk_full_error(path, exc, tmp)
        if full is None:
            raise
        raise full from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_folder_atomic(folder: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` to fill the folder temporary_path(folder), then put it in place of
    `folder` (whose old files go only then). A failure removes the temporary and leaves
    `folder` as it was; a full disk is an OSError(ENOSPC) naming `folder` (disk_full_error)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
    except Exception as exc:
        full = disk_full_error(folder, exc, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if full is None:
            raise
        raise full from exc
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


DISK_FULL_BYTES = 64 * 2**20  # a short write with less free than this in the folder: the disk is full
_SHORT_WRITE = ("file write failed", "unexpected pos")  # torch.save's RuntimeErrors (no errno) when a write falls short


def disk_full_error(path: str | os.PathLike, exc: BaseException, partial: str | os.PathLike | None = None) -> OSError | None:
    """The error to raise for writing `path` having failed with `exc` if the disk is full, else None.

    Full: an OSError with errno ENOSPC, an error whose message says "No space left on device"
    (safetensors), or torch's RuntimeError for a short write ("file write failed", "unexpected
    pos": no errno) while the folder's disk has less than DISK_FULL_BYTES free. The error is
    OSError(ENOSPC) naming `path` (the CLI prints it as one line), the free space and how much
    of it (`partial`: the temporary file or folder) was written; call it before removing that.
    """
    path = Path(path)
    text = str(exc)
    if isinstance(exc, OSError):
        certain = exc.errno == errno.ENOSPC
    else:
        certain = os.strerror(errno.ENOSPC) in text
        if not certain and not (isinstance(exc, RuntimeError) and any(s in text for s in _SHORT_WRITE)):
            return None
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if not certain and (free is None or free >= DISK_FULL_BYTES):
        return None
    done = 0 if partial is None else _size_on_disk(Path(partial))
    written = f"; the write stopped after {size_text(done)}" if done else ""
    where = "the disk is full" + ("" if free is None else f": {size_text(free)} free in {path.parent}")
    kept = f"the previous {path.name} is kept; " if path.exists() else ""
    return OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} ({where}{written}); {kept}free some space and rerun",
                   str(path))


def _size_on_disk(path: Path) -> int:
    """Bytes of the file, or of the files under the folder, at `path` (0 if absent or unreadable)."""
    try:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    except OSError:
        return 0


def size_text(nbytes: float) -> str:
    """A byte count in the largest unit (bytes, kB, MB, GB, TB) that keeps it >= 1: '1.5 MB'."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{int(nbytes)} bytes"


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
