"""The executors' one list of names, and the `executor` section of a study config.

Light on purpose: a study config loads this module, so it imports neither submitit, nor
pandas, nor torch. The executors themselves live in the modules EXECUTORS names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from braintune.errors import ConfigError


@dataclass(frozen=True)
class ExecutorKind:
    """An executor name's implementation ("module:callable", called with the StudyConfig) and
    what it runs each cell as."""

    make: str
    runs_cells_as: str


# The one list of executor names: the config, `braintune run --executor` and make_executor read it
EXECUTORS = {
    "local": ExecutorKind("braintune.study.executors.local:Executor", "this process"),
    "local-processes": ExecutorKind("braintune.study.executors.jobs:process_executor", "a process per cell"),
    "slurm": ExecutorKind("braintune.study.executors.slurm:slurm_executor", "a job per cell, through submitit"),
}
NAMES = tuple(EXECUTORS)


def _names_help() -> str:
    """Each name with what it runs cells as: "local (this process), … or slurm (…)"."""
    said = [f"{name} ({kind.runs_cells_as})" for name, kind in EXECUTORS.items()]
    return f"{', '.join(said[:-1])} or {said[-1]}"


@dataclass
class ExecutorSettings:
    """Where the cells of a study run and, on Slurm, what each cell's job asks for."""

    name: str = field(default="local", metadata={"help": _names_help()})
    partition: str | None = field(default=None, metadata={"help": "Slurm partition; default: the cluster's default"})
    account: str | None = field(default=None, metadata={"help": "Slurm account the jobs are charged to; default: yours"})
    gpus_per_job: int = field(default=1, metadata={
        "help": "GPUs of a brain-tuning cell (more than 1: DDP, a process per GPU, on Slurm a task per GPU); "
                "other cells take at most 1; 0 for CPU-only partitions"})
    cpus_per_job: int = field(default=8, metadata={"help": "CPU cores of each job (shared by its tasks)"})
    mem_gb: int = field(default=64, metadata={"help": "memory of each job, in GB"})
    time_minutes: int = field(default=24 * 60, metadata={"help": "time limit of each job, in minutes"})
    signal_seconds: int = field(default=90, metadata={
        "help": "Slurm signals a job this long before its time limit; the job is then requeued and resumes"})
    max_requeues: int = field(default=3, metadata={
        "help": "how often a job may reach its time limit and be requeued (preemptions do not count)"})
    poll_seconds: float = field(default=10.0, metadata={"help": "seconds between two looks at the jobs' states"})
    folder: str | None = field(default=None, metadata={"help": "job scripts and job logs; default: RUN/submitit"})

    def __post_init__(self):
        if self.name not in NAMES:
            raise ConfigError(f"name: one of {', '.join(NAMES)}; got {self.name!r}")
        minimum = {"gpus_per_job": 0, "cpus_per_job": 1, "mem_gb": 1, "time_minutes": 1, "signal_seconds": 0,
                   "max_requeues": 0}
        for key, low in minimum.items():
            if getattr(self, key) < low:
                raise ConfigError(f"{key}: must be at least {low}, got {getattr(self, key)!r}")
        if self.signal_seconds >= 60 * self.time_minutes:
            raise ConfigError(f"signal_seconds: must be shorter than the time limit "
                              f"({self.time_minutes} min), got {self.signal_seconds}")
        if not self.poll_seconds > 0:
            raise ConfigError(f"poll_seconds: must be > 0, got {self.poll_seconds!r}")
