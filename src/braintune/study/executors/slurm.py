"""The "slurm" executor: a Slurm job per cell through submitit, the cluster checked first.

`slurm_executor(cfg)` checks the scheduler before anything is written: the tools, the
controller, the partition (state, time limit, accounts) and, through `sbatch --test-only`,
that the partition has what each kind of job asks for. Any problem is one line
(SchedulerError).

The jobs' states come from squeue and from the jobs' own files (submitit's result files;
slurmstepd's "*** JOB … CANCELLED …" line in the log), never from sacct. Slurm signals a
job `signal_seconds` before its time limit (and at preemption where the cluster sends the
signal), and submitit requeues it (braintune.study.executors.jobs.CellJob).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING

import submitit

from braintune.errors import SchedulerError
from braintune.study.claims import Claim
from braintune.study.executors.jobs import (ATTEMPT, CellJob, JobExecutor, ProcessJobs, job_folder, job_outcome,
                                            last_line)
from braintune.study.executors.settings import ExecutorSettings
from braintune.study.plan import plan_cells
from braintune.study.stages import STAGE_TABLE

if TYPE_CHECKING:
    from braintune.study.config import StudyConfig

log = logging.getLogger(__package__)  # one logger for the executors: study.log says "braintune.study.executors"

# Slurm job states of a job that may still run (squeue %T); any other state is an end
LIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_FED", "RESIZING", "SUSPENDED",
        "STOPPED", "SIGNALING", "STAGE_OUT", "POWER_UP_NODE", "UPDATE_DB"}
ENDS = {
    "CANCELLED": "was cancelled",
    "TIMEOUT": "reached its time limit and was not requeued (executor.time_minutes, executor.max_requeues)",
    "FAILED": "failed",
    "NODE_FAIL": "lost its node",
    "PREEMPTED": "was preempted",
    "OUT_OF_MEMORY": "ran out of memory (executor.mem_gb)",
    "BOOT_FAIL": "could not boot its node",
    "DEADLINE": "missed its deadline",
    "COMPLETED": "ended without a result",
    "REQUEUE_HOLD": "is held after a requeue",
    "SPECIAL_EXIT": "is held after a failure",
}
_STEPD_END = re.compile(r"\*\*\* JOB (\d+) ON \S+ CANCELLED AT \S+(?: DUE TO (TIME LIMIT|PREEMPTION|NODE FAILURE))? \*\*\*")
_STEPD_STATES = {None: "CANCELLED", "TIME LIMIT": "TIMEOUT", "PREEMPTION": "PREEMPTED", "NODE FAILURE": "NODE_FAIL"}
SLURM_TOOLS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo", "srun")


def slurm_executor(cfg: StudyConfig) -> JobExecutor:
    """The "slurm" executor, once the cluster is checked (SchedulerError)."""
    check_slurm(cfg)
    return JobExecutor(cfg, SlurmJobs(cfg))


class SlurmJobs(ProcessJobs):
    """Cells as Slurm jobs (submitit's SlurmExecutor); states from squeue and the jobs' files."""

    def __init__(self, cfg: StudyConfig):
        super().__init__(cfg)
        self.name = f"braintune-{cfg.name}"
        self._pending: dict[str, str] = {}
        self._no_result_since: dict[str, float] = {}

    def _executor(self, stage: str) -> submitit.Executor:
        executor = submitit.SlurmExecutor(folder=str(self.folder), max_num_timeout=self.settings.max_requeues)
        executor.update_parameters(**job_parameters(self.settings, stage, self.name))
        return executor

    def submit(self, job: CellJob) -> submitit.Job:
        try:
            return super().submit(job)
        except (submitit.core.utils.FailedJobError, submitit.core.utils.FailedSubmissionError) as exc:
            raise SchedulerError(f"{job.cell.label}: sbatch refused the job: {last_line(str(exc))}") from None

    def claim(self, job: submitit.Job) -> Claim:
        return Claim.slurm(job.job_id, log=str(job.paths.stderr))

    def poll(self, jobs: list[submitit.Job]) -> dict[str, str | None]:
        states = squeue([job.job_id for job in jobs])  # before the result files: a job writes them, then ends
        ends, self._pending = {}, {}
        for job in jobs:
            outcome = job_outcome(job)
            if outcome == "":
                ends[job.job_id] = ""
                continue
            if states is None:  # squeue did not answer: look again at the next poll
                ends[job.job_id] = outcome and f"failed: {outcome}"
                continue
            state, reason = states.get(job.job_id) or (_ended_from_log(job), "")
            ended = _ended_from_log(job) if state == "COMPLETING" and outcome is None else None
            if ended in ("CANCELLED", "TIMEOUT"):  # final while it completes; preempted jobs may yet be requeued
                state = ended
            if state in LIVE:
                ends[job.job_id] = outcome and f"failed: {outcome}"
                if state == "PENDING":
                    self._pending[job.job_id] = reason
                continue
            if state == "COMPLETED" and outcome is None and self._wait_for_result(job):
                ends[job.job_id] = None
                continue
            said = ENDS.get(state, f"ended ({state or 'left the queue'})")
            ends[job.job_id] = said if outcome is None else f"{said}: {outcome}"
        return ends

    def _wait_for_result(self, job: submitit.Job) -> bool:
        """A completed job's result file may take a while to show on a network file system."""
        first = self._no_result_since.setdefault(job.job_id, time.monotonic())
        return time.monotonic() - first < max(30.0, 3 * self.settings.poll_seconds)

    def cancel(self, jobs: list[submitit.Job]) -> None:
        subprocess.run(["scancel", *[job.job_id for job in jobs]], capture_output=True, timeout=60)

    def summary(self) -> str:
        """The pending jobs and why they wait, e.g. "2 pending (Resources)"."""
        if not self._pending:
            return ""
        reasons = sorted(set(self._pending.values()))
        return f"{len(self._pending)} pending ({', '.join(reasons)})"


def job_parameters(settings: ExecutorSettings, stage: str, name: str) -> dict:
    """sbatch options (submitit SlurmExecutor parameters) of a cell's job.

    A brain-tuning cell gets `gpus_per_job` GPUs and, with more than one, one task per GPU
    (DDP); other cells get at most one GPU and one task. `--gpus-per-node` asks for GPUs.
    """
    gpus = settings.gpus_per_job if stage == "tune" else min(settings.gpus_per_job, 1)
    tasks = max(gpus, 1)
    return {
        "job_name": name, "partition": settings.partition, "account": settings.account,
        "time": settings.time_minutes, "signal_delay_s": settings.signal_seconds,
        "nodes": 1, "ntasks_per_node": tasks, "cpus_per_task": max(1, settings.cpus_per_job // tasks),
        "gpus_per_node": gpus or None, "mem": f"{settings.mem_gb}G",
        "srun_args": ["--kill-on-bad-exit=1"] if tasks > 1 else None,  # a DDP task that dies ends the job
    }


def squeue(job_ids: list[str]) -> dict[str, tuple[str, str]] | None:
    """{job id: (state, reason)} of the jobs Slurm still knows; None if squeue does not answer."""
    if not job_ids or shutil.which("squeue") is None:
        return None
    try:
        done = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%r", f"--jobs={','.join(job_ids)}"],
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:  # none of them is known any more
            return {}
        log.warning("squeue: %s", last_line(done.stderr))
        return None
    states = {}
    for line in done.stdout.splitlines():
        job_id, state, reason = (line.split("|", 2) + ["", ""])[:3]
        states[job_id.strip()] = (state.strip(), reason.strip())
    return states


def _ended_from_log(job: submitit.Job) -> str | None:
    """The state slurmstepd wrote in the job's log ("*** JOB 15 ON node CANCELLED AT … ***") in its last attempt."""
    try:
        text = job.paths.stderr.read_text(errors="replace")
    except OSError:
        return None
    state = None
    for line in text[max(text.rfind(ATTEMPT), 0):].splitlines():
        match = _STEPD_END.search(line)
        if match and match.group(1) == job.job_id.split("_")[0]:
            state = _STEPD_STATES[match.group(2)]
    return state


# ---------------------------------------------------------------------------------------
# Checking a Slurm cluster before the run starts


def check_slurm(cfg: StudyConfig) -> None:
    """Raise SchedulerError (one line) unless Slurm will accept and can run the study's jobs."""
    settings = cfg.executor
    missing = [tool for tool in SLURM_TOOLS if shutil.which(tool) is None]
    if missing:
        raise SchedulerError(f"--executor slurm: {', '.join(missing)} not found on PATH; run braintune on a "
                             "Slurm login node, or choose --executor local")
    out = _slurm(["sinfo", "--noheader", "--format=%P"], "Slurm does not answer")
    partitions = [p.strip() for p in out.split()]
    default = next((p[:-1] for p in partitions if p.endswith("*")), None)
    names = [p.rstrip("*") for p in partitions]
    partition = settings.partition or default
    if partition is None:
        raise SchedulerError(f"executor.partition: this cluster has no default partition; choose one of {', '.join(names)}")
    if partition not in names:
        raise SchedulerError(f"executor.partition: no partition {partition!r} on this cluster (partitions: {', '.join(names)})")
    info = dict(item.split("=", 1) for item in
                _slurm(["scontrol", "show", "partition", "--oneliner", partition], "Slurm does not answer").split()
                if "=" in item)
    if info.get("State", "UP") != "UP":
        raise SchedulerError(f"executor.partition: partition {partition!r} is {info['State']}; its jobs would not start")
    limit = _minutes(info.get("MaxTime", "UNLIMITED"))
    if limit is not None and settings.time_minutes > limit:
        raise SchedulerError(f"executor.time_minutes: {settings.time_minutes} exceeds the time limit of partition "
                             f"{partition!r} ({limit} min)")
    allowed, denied = info.get("AllowAccounts", "ALL"), info.get("DenyAccounts", "")
    if settings.account and (allowed != "ALL" and settings.account not in allowed.split(",")
                             or settings.account in denied.split(",")):
        raise SchedulerError(f"executor.account: partition {partition!r} does not accept account {settings.account!r}"
                             f" (it allows {allowed})")
    for stage in sorted({"tune" if STAGE_TABLE[c.stage].kind == "tune" else "other" for c in plan_cells(cfg)}):
        _test_submission(cfg, stage, partition)


def _test_submission(cfg: StudyConfig, stage: str, partition: str) -> None:
    """`sbatch --test-only` of the script a job of `stage` would get: Slurm says whether it could run it."""
    executor = submitit.SlurmExecutor(folder=job_folder(cfg))  # creates no folder
    executor.update_parameters(**job_parameters(cfg.executor, stage, f"braintune-{cfg.name}"))
    with tempfile.NamedTemporaryFile("w", suffix=".sh") as script:
        script.write(executor._make_submission_file_text("true", "check"))
        script.flush()
        done = subprocess.run(["sbatch", "--test-only", script.name], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        p = cfg.executor
        gpus = p.gpus_per_job if stage == "tune" else min(p.gpus_per_job, 1)
        what = "brain-tuning" if stage == "tune" else "alignment and probing"
        raise SchedulerError(
            f"executor: partition {partition!r} cannot run the {what} jobs ({gpus} GPU, {p.cpus_per_job} CPU, "
            f"{p.mem_gb} GB, {p.time_minutes} min{', account ' + p.account if p.account else ''}): "
            f"{last_line(done.stderr)}")


def _slurm(command: list[str], problem: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise SchedulerError(f"{problem}: {command[0]} did not return within 60 s") from None
    if done.returncode != 0:
        raise SchedulerError(f"{problem}: {last_line(done.stderr) or command[0] + ' failed'}")
    return done.stdout


def _minutes(limit: str) -> int | None:
    """A Slurm time limit ("UNLIMITED", "MM", "HH:MM:SS", "D-HH:MM:SS") in minutes; None if unlimited."""
    if limit in ("UNLIMITED", "INFINITE", "NONE"):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(x) for x in clock.split(":")]
    hours, minutes, seconds = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    return int(days or 0) * 1440 + hours * 60 + minutes + (seconds > 0)
