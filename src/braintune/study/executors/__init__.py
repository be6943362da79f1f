"""Where a study's cells run: in this process, as local processes, or as Slurm jobs.

`make_executor(name, cfg)` makes the executor that `name` stands for in
`settings.EXECUTORS` (the one list of names); `.run(cells, run_dir, bar)` then runs the
cells that are not done. A cell is claimed in its folder before it runs or is submitted
(braintune.study.claims): a cell claimed by another live run is waited for, one claimed by
a dead process or a job that left the queue is taken over; no cell is written by two runs
at once. Each cell logs at INFO to `cell.log` in its folder (a job also to its submitit
log); study.log gets one line per job: submitted, finished (with its time) or failed.

    settings.py   ExecutorSettings (the config's `executor` section) and EXECUTORS; light
    local.py      "local": the cells in this process; claim waiting; cell logs
    jobs.py       "local-processes", and the jobs shared with Slurm (submitit): JobExecutor,
                  CellJob (checkpointable: requeued at a time limit), ProcessJobs, signals
    slurm.py      "slurm": SlurmJobs, squeue, the jobs' sbatch options, the cluster's checks

Only this module and settings.py load with a study config: the others (and submitit) are
imported when their executor is made, or one of their names is used from here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from braintune._lazy import lazy_exports
from braintune.errors import ConfigError
from braintune.study.executors.settings import EXECUTORS, NAMES, ExecutorKind, ExecutorSettings

if TYPE_CHECKING:
    from braintune.study.config import StudyConfig
    from braintune.study.executors.local import Executor

__getattr__, _lazy_names = lazy_exports(__name__, {
    **dict.fromkeys(("CELL_LOG", "LOG_FORMAT", "Executor", "cell_log", "claim_alive"),
                    "braintune.study.executors.local"),
    **dict.fromkeys(("ATTEMPT", "RESUME", "CellJob", "JobExecutor", "ProcessJobs", "job_folder"),
                    "braintune.study.executors.jobs"),
    **dict.fromkeys(("ENDS", "LIVE", "SLURM_TOOLS", "SlurmJobs", "check_slurm", "job_parameters", "squeue"),
                    "braintune.study.executors.slurm"),
})
__all__ = sorted(["EXECUTORS", "NAMES", "ExecutorKind", "ExecutorSettings", "make_executor", *_lazy_names])


def make_executor(name: str, cfg: StudyConfig) -> Executor:
    """The executor `name` for `cfg`; for Slurm, checks the cluster first (SchedulerError)."""
    if name not in EXECUTORS:
        raise ConfigError(f"executor: one of {', '.join(NAMES)}; got {name!r}")
    module, _, make = EXECUTORS[name].make.partition(":")
    return getattr(importlib.import_module(module), make)(cfg)
