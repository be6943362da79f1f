"""The "local" executor: the cells one after the other in this process, each claimed first
(braintune.study.claims) and logged to its folder's cell.log."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from braintune.study import claims, runner
from braintune.study.claims import Claim

if TYPE_CHECKING:
    from braintune.study.config import StudyConfig
    from braintune.study.plan import Cell

log = logging.getLogger(__package__)  # one logger for the executors: study.log says "braintune.study.executors"

CELL_LOG = "cell.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Executor:
    """Runs cells one after the other in this process (the "local" executor)."""

    def __init__(self, cfg: StudyConfig):
        self.cfg = cfg
        self.poll_seconds = cfg.executor.poll_seconds

    def run(self, cells: list[Cell], run_dir: Path, bar) -> None:
        """Run `cells` (in dependency order) that are not done; `bar` counts finished cells."""
        me = Claim.process()
        for cell in cells:
            bar.set_postfix_str(cell.label)
            folder = cell.folder(run_dir)
            if self._wait_for_claim(cell, folder, me, run_dir):
                try:
                    with cell_log(folder / CELL_LOG):
                        runner.run_cell(cell, self.cfg, run_dir)
                finally:
                    claims.release(folder, me)
            bar.update(1)

    def _wait_for_claim(self, cell: Cell, folder: Path, me: Claim, run_dir: Path) -> bool:
        """Claim the cell, waiting while another live run holds it; False if that run finished it."""
        announced = None
        while not runner.is_done(cell, run_dir):
            held = claims.acquire(folder, me, claim_alive)
            if held is None:
                if not runner.is_done(cell, run_dir):
                    return True
                claims.release(folder, me)
                break
            if held != announced:
                log_waiting(cell, held)
                announced = held
            time.sleep(self.poll_seconds)
        log.info("%s: done by another run", cell.label)
        return False


def log_waiting(cell: Cell, held: Claim) -> None:
    log.info("%s: waiting for %s, which holds this cell since %s", cell.label, held.describe(), held.since)


def claim_alive(claim: Claim) -> bool:
    """Whether the owner of `claim` may still be running (True when that cannot be told here)."""
    if claim.kind == "process":
        return claims.process_alive(claim)
    if claim.kind != "slurm":  # an unreadable claim file
        return False
    from braintune.study.executors.slurm import LIVE, squeue  # only for Slurm claims: it imports submitit

    states = squeue([claim.id])
    return states is None or states.get(claim.id, ("",))[0] in LIVE


@contextlib.contextmanager
def cell_log(path: Path):
    """Send braintune's INFO logging to `path` (appended) while the cell runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger("braintune")
    root.addHandler(handler)
    level = root.level
    root.setLevel(min(level or logging.INFO, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()
