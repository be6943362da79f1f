"""Cell claims: a lock file in a cell's folder naming who is running the cell.

Before a run works on a cell (in its own process, or by submitting a job), it claims the
cell by creating `claim.json` in the cell's folder, atomically: the file is written aside
and hard-linked into place, which fails if a claim exists (also on NFS). A run that finds
a claim asks whether its owner is alive: a live claim is waited for, a dead one (its
process has exited, its job has left the queue) is taken over. So two runs, local or on
a cluster, never write one cell at once.

The claim is removed by whoever ran the cell, once the cell is done. A cell whose job was
cancelled or failed keeps its claim; the next run finds its owner dead and takes it over.

claim.json: {"kind": "process" | "slurm", "id": process or Slurm job id, "host": where the
process runs or the job was submitted, "started": the process's start time (Linux) to tell
a reused pid apart, "log": the job's log file, "since": when it was claimed}.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from braintune.io import write_atomic

log = logging.getLogger(__name__)

CLAIM = "claim.json"


@dataclass(frozen=True)
class Claim:
    """Who runs a cell: a process (`id` = pid on `host`) or a Slurm job (`id` = job id)."""

    kind: str
    id: str
    host: str
    started: str = ""
    log: str = ""
    since: str = ""

    @classmethod
    def process(cls, pid: int | None = None) -> "Claim":
        """A claim for process `pid` (default: this one) on this host."""
        pid = os.getpid() if pid is None else pid
        return cls("process", str(pid), socket.gethostname(), _start_time(pid), since=_now())

    @classmethod
    def slurm(cls, job_id: str, log: str = "") -> "Claim":
        """A claim for Slurm job `job_id`, made on this host."""
        return cls("slurm", str(job_id), socket.gethostname(), log=log, since=_now())

    def same_owner(self, other: "Claim") -> bool:
        return self.kind == other.kind and self.id == other.id and (self.kind == "slurm" or self.host == other.host)

    def describe(self) -> str:
        return f"Slurm job {self.id}" if self.kind == "slurm" else f"process {self.id} on {self.host}"


def read(folder: Path) -> Claim | None:
    """The claim in `folder`, or None. An unreadable claim file reads as a claim by nobody alive."""
    return _parse(Path(folder) / CLAIM)


def acquire(folder: Path, mine: Claim, alive: Callable[[Claim], bool]) -> Claim | None:
    """Claim `folder` for `mine`: None when it is ours now, else the live claim that holds it.

    A claim of the same owner counts as ours (a requeued job finds its own claim); one
    whose owner `alive` says is dead is taken over, with a warning.
    """
    path = Path(folder) / CLAIM
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        if _create(path, mine):
            return None
        held = read(folder)
        if held is None:
            continue  # released meanwhile: try again
        if held.same_owner(mine):
            return None
        if held.kind != "unreadable" and alive(held):
            return held
        if _remove(path, held):
            log.warning("%s: took over the claim of %s, which is no longer running", folder, held.describe())


def hand_over(folder: Path, mine: Claim, new: Claim) -> None:
    """Replace our claim by `new` (the job we submitted for the cell)."""
    held = read(folder)
    if held is not None and held.same_owner(new):  # the job got there first
        return
    if held is None or not held.same_owner(mine):
        raise RuntimeError(f"{folder}: our claim was taken by {held.describe() if held else 'nobody'}")
    write_atomic(Path(folder) / CLAIM, json.dumps(asdict(new), indent=1))


def release(folder: Path, mine: Claim) -> None:
    """Remove the claim in `folder` if it is `mine`."""
    held = read(folder)
    if held is not None and held.same_owner(mine):
        _remove(Path(folder) / CLAIM, held)


def process_alive(claim: Claim) -> bool:
    """Whether the process of a "process" claim still runs; True if it is on another host (unknowable)."""
    if claim.host != socket.gethostname():
        return True
    pid = int(claim.id)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    stat = _stat(pid)
    if stat and stat[0] in "ZX":  # exited, not yet reaped by its parent
        return False
    return not (claim.started and stat) or stat[19] == claim.started


def _create(path: Path, claim: Claim) -> bool:
    """Create `path` holding `claim` unless it exists (write aside, then hard-link: atomic)."""
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    aside.write_text(json.dumps(asdict(claim), indent=1))
    try:
        os.link(aside, path)
        return True
    except FileExistsError:
        return False
    finally:
        aside.unlink()


def _remove(path: Path, held: Claim) -> bool:
    """Remove the claim file if it still holds `held`; False if another claim replaced it meanwhile."""
    grave = path.with_name(f".{path.name}.{uuid.uuid4().hex}.old")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return False
    if _parse(grave) != held:  # someone else's fresh claim: put it back
        try:
            os.link(grave, path)
        except FileExistsError:
            pass
        grave.unlink()
        return False
    grave.unlink()
    return True


def _parse(path: Path) -> Claim | None:
    try:
        return Claim(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (TypeError, ValueError):
        return Claim("unreadable", "", "")


def _stat(pid: int) -> list[str]:
    """Fields 3… of /proc/PID/stat (state, ppid, …; [19] = start time in clock ticks since boot); [] if unknown."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _start_time(pid: int) -> str:
    stat = _stat(pid)
    return stat[19] if stat else ""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
