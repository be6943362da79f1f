"""Where a study's cells run: in this process, as local processes, or as Slurm jobs.

`make_executor(name, cfg)` checks the scheduler before anything is written: on Slurm, the
tools, the controller, the partition (state, time limit, accounts) and, through `sbatch
--test-only`, that the partition has what each kind of job asks for. Any problem is one
line (SchedulerError). `Executor.run(cells, run_dir, bar)` then runs the cells that are
not done. A cell is claimed in its folder before it runs or is submitted
(braintune.study.claims): a cell claimed by another live run is waited for, one claimed
by a dead process or a job that left the queue is taken over; no cell is written by two
runs at once.

Jobs (Slurm, or local processes) go through submitit, each cell as soon as the cells it
depends on are done. Their states come from squeue and from the jobs' own files
(submitit's result files; slurmstepd's "*** JOB … CANCELLED …" line in the log), never
from sacct. The first job that fails, is cancelled, times out for good or loses its node
is reported in one line with its log; the run then cancels its other jobs and stops, and
a rerun resumes. Ctrl-C (SIGINT, SIGTERM, SIGHUP) cancels the run's jobs too.

Every cell job is checkpointable in submitit's sense: Slurm signals it `signal_seconds`
before its time limit (and at preemption where the cluster sends the signal), submitit
calls CellJob.checkpoint and requeues the job, which resumes from what the cell keeps on
disk (brain-tuning: checkpoint.pt of its last epoch; alignment and probing: their feature
caches); a job times out at most `max_requeues` times.

Logs: each cell logs at INFO to `cell.log` in its folder (and a job also to its submitit
log); study.log gets one line per job: submitted, finished (with its time) or failed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import submitit

from braintune.errors import ConfigError, SchedulerError
from braintune.study import claims
from braintune.study.claims import Claim
from braintune.study.stages import STAGE_TABLE

if TYPE_CHECKING:  # the study modules import this one
    from braintune.study.config import StudyConfig
    from braintune.study.plan import Cell

log = logging.getLogger(__name__)

NAMES = ("local", "local-processes", "slurm")
CELL_LOG = "cell.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RESUME = "rerun the same command to resume: finished cells are reused and brain-tuning resumes from its last checkpoint"


@dataclass
class ExecutorSettings:
    """Where the cells of a study run and, on Slurm, what each cell's job asks for."""

    name: str = field(default="local", metadata={
        "help": "local (this process), local-processes (a process per cell) or slurm (a job per cell, through submitit)"})
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


def make_executor(name: str, cfg: StudyConfig) -> "Executor":
    """The executor `name` for `cfg`; for Slurm, checks the cluster first (SchedulerError)."""
    if name not in NAMES:
        raise ConfigError(f"executor: one of {', '.join(NAMES)}; got {name!r}")
    if name == "local":
        return Executor(cfg)
    if name == "local-processes":
        return JobExecutor(cfg, ProcessJobs(cfg))
    check_slurm(cfg)
    return JobExecutor(cfg, SlurmJobs(cfg))


# ---------------------------------------------------------------------------------------
# Running cells


class Executor:
    """Runs cells one after the other in this process (the "local" executor)."""

    def __init__(self, cfg: StudyConfig):
        self.cfg = cfg
        self.poll_seconds = cfg.executor.poll_seconds

    def run(self, cells: list[Cell], run_dir: Path, bar) -> None:
        """Run `cells` (in dependency order) that are not done; `bar` counts finished cells."""
        from braintune.study import runner  # lazily: runner imports this module

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
        from braintune.study.runner import is_done

        announced = None
        while not is_done(cell, run_dir):
            held = claims.acquire(folder, me, claim_alive)
            if held is None:
                if not is_done(cell, run_dir):
                    return True
                claims.release(folder, me)
                break
            if held != announced:
                _waiting(cell, held)
                announced = held
            time.sleep(self.poll_seconds)
        log.info("%s: done by another run", cell.label)
        return False


@dataclass
class _Ticket:
    """A started cell: our job, or (job None) another run's claim we wait on."""

    cell: Cell
    claim: Claim
    job: submitit.Job | None = None


class JobExecutor(Executor):
    """Runs cells as jobs ("local-processes", "slurm"), each once the cells it needs are done."""

    def __init__(self, cfg: StudyConfig, jobs: "ProcessJobs"):
        super().__init__(cfg)
        self.jobs = jobs
        self.me = Claim.process()

    def run(self, cells: list[Cell], run_dir: Path, bar) -> None:
        from braintune.study.runner import is_done

        waiting, tickets = list(cells), []
        try:
            with _signals_interrupt():
                while waiting or tickets:
                    ready = [c for c in waiting if all(is_done(d, run_dir) for d in c.depends_on)]
                    if not ready and not tickets:
                        raise SchedulerError(f"{waiting[0].label}: a cell it needs is not done")
                    for cell in ready:
                        waiting.remove(cell)
                        self._start(cell, run_dir, tickets, bar)
                    if tickets:
                        time.sleep(self.poll_seconds)
                        self._poll(tickets, run_dir, bar)
        except SchedulerError as failure:
            log.error("%s", failure)
            self._cancel(tickets)
            raise SchedulerError(f"the run stopped; {RESUME}") from None
        except BaseException:
            self._cancel(tickets)
            raise

    def _start(self, cell: Cell, run_dir: Path, tickets: list[_Ticket], bar) -> None:
        """Submit `cell` (a ticket for its job), or wait for the live run that holds it (a
        ticket for its claim), or count it on `bar` if it is done."""
        from braintune.study.runner import is_done

        folder = cell.folder(run_dir)
        held = None if is_done(cell, run_dir) else claims.acquire(folder, self.me, claim_alive)
        if held is not None:
            _waiting(cell, held)
            tickets.append(_Ticket(cell, held))
            return
        if is_done(cell, run_dir):  # done before, or by the run whose claim we took
            claims.release(folder, self.me)
            bar.update(1)
            return
        try:
            job = self.jobs.submit(CellJob(cell, str(run_dir), self.me))
        except BaseException:
            claims.release(folder, self.me)
            raise
        claim = self.jobs.claim(job)
        claims.hand_over(folder, self.me, claim)
        log.info("%s: submitted as %s (log %s)", cell.label, claim.describe(), job.paths.stderr)
        tickets.append(_Ticket(cell, claim, job))

    def _poll(self, tickets: list[_Ticket], run_dir: Path, bar) -> None:
        """Update `tickets` in place (finished cells leave it); raises SchedulerError (one line)
        for the first job that did not finish, after taking it out of `tickets`."""
        from braintune.study.runner import DONE, is_done

        ends = self.jobs.poll([t.job for t in tickets if t.job is not None])
        for ticket in list(tickets):
            cell, folder = ticket.cell, ticket.cell.folder(run_dir)
            if ticket.job is None:  # another run's claim
                held = claims.read(folder)
                if is_done(cell, run_dir):
                    tickets.remove(ticket)
                    log.info("%s: done by %s", cell.label, ticket.claim.describe())
                    bar.update(1)
                elif held is None or not claim_alive(held):
                    tickets.remove(ticket)
                    self._start(cell, run_dir, tickets, bar)
                else:
                    ticket.claim = held
                continue
            end = ends[ticket.job.job_id]
            if end is None:
                continue
            tickets.remove(ticket)
            if end == "" and is_done(cell, run_dir):
                log.info("%s: finished in %s (%s; log %s)", cell.label, _seconds(folder / DONE),
                         ticket.claim.describe(), folder / CELL_LOG)
                bar.update(1)
            else:
                raise SchedulerError(f"{cell.label}: {ticket.claim.describe()} {end or 'ended without finishing the cell'}"
                                     f" (log: {ticket.job.paths.stderr})")
        bar.set_postfix_str(self.jobs.summary())

    def _cancel(self, tickets: list[_Ticket]) -> None:
        jobs = [t.job for t in tickets if t.job is not None]
        if jobs:
            self.jobs.cancel(jobs)
            log.warning("cancelled %d job%s of this run: %s", len(jobs), "s" if len(jobs) > 1 else "",
                        ", ".join(j.job_id for j in jobs))


class CellJob(submitit.helpers.Checkpointable):
    """One cell as a submitit job. On a time limit or preemption submitit calls `checkpoint`
    and requeues the same call, which resumes from the cell's files.

    A multi-GPU brain-tuning job runs one task per GPU: every task trains (DDP); rank 0
    keeps the cell's claim, log and done marker.
    """

    def __init__(self, cell: Cell, run_dir: str, submitter: Claim):
        self.cell, self.run_dir, self.submitter = cell, run_dir, submitter

    def __call__(self) -> str:
        from braintune.study import runner, stages  # lazily: runner imports this module
        from braintune.study.config import load_config

        env = submitit.JobEnvironment()
        if env.num_tasks > 1:
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        run_dir = Path(self.run_dir)
        folder = self.cell.folder(run_dir)
        cfg = load_config(run_dir / "config.yaml")
        _log_to_stderr()
        if env.global_rank > 0:
            stages.RUNNERS[self.cell.stage](self.cell, cfg, run_dir, folder)
            return str(folder)
        me = _job_claim(env)
        with cell_log(folder / CELL_LOG):
            log.info("%s: %s %d, %s on %s", self.cell.label, ATTEMPT, int(os.environ.get("SLURM_RESTART_COUNT", "0")) + 1,
                     me.describe(), socket.gethostname())
            if claims.read(folder) == self.submitter:  # started before the submitter handed its claim over
                claims.hand_over(folder, self.submitter, me)
            held = claims.acquire(folder, me, claim_alive)
            if held is not None:
                raise SchedulerError(f"{folder}: claimed by {held.describe()}; not running this cell twice")
            runner.run_cell(self.cell, cfg, run_dir)
            claims.release(folder, me)
        return str(folder)

    def checkpoint(self) -> submitit.helpers.DelayedSubmission:
        log.warning("%s: time limit or preemption; the job is requeued and resumes from the cell's files",
                    self.cell.label)
        return super().checkpoint()


def _waiting(cell: Cell, held: Claim) -> None:
    log.info("%s: waiting for %s, which holds this cell since %s", cell.label, held.describe(), held.since)


def claim_alive(claim: Claim) -> bool:
    """Whether the owner of `claim` may still be running (True when that cannot be told here)."""
    if claim.kind == "process":
        return claims.process_alive(claim)
    if claim.kind != "slurm":  # an unreadable claim file
        return False
    states = squeue([claim.id])
    return states is None or states.get(claim.id, ("",))[0] in LIVE


# ---------------------------------------------------------------------------------------
# Jobs through submitit: local processes and Slurm


class ProcessJobs:
    """Cells as local processes (submitit's LocalExecutor)."""

    def __init__(self, cfg: StudyConfig):
        self.settings = cfg.executor
        self.folder = job_folder(cfg)
        self._executors: dict[str, submitit.Executor] = {}

    def _executor(self, stage: str) -> submitit.Executor:
        executor = submitit.LocalExecutor(folder=str(self.folder), max_num_timeout=self.settings.max_requeues)
        executor.update_parameters(timeout_min=self.settings.time_minutes)
        return executor

    def submit(self, job: CellJob) -> submitit.Job:
        """Submit `job` with the resources of its stage (brain-tuning, or any other cell)."""
        stage = "tune" if STAGE_TABLE[job.cell.stage].kind == "tune" else "other"
        if stage not in self._executors:
            self._executors[stage] = self._executor(stage)
        return self._executors[stage].submit(job)

    def claim(self, job: submitit.Job) -> Claim:
        return Claim.process(int(job.job_id))

    def poll(self, jobs: list[submitit.Job]) -> dict[str, str | None]:
        """{job id: None while it runs, "" if it finished, else how it ended}."""
        ends = {}
        for job in jobs:
            state = job.state  # before the result file: a job writes it, then ends
            outcome = _outcome(job)
            if outcome is None:
                ends[job.job_id] = None if state == "RUNNING" else f"ended ({state}) without a result"
            else:
                ends[job.job_id] = outcome and f"failed: {outcome}"
        return ends

    def cancel(self, jobs: list[submitit.Job]) -> None:
        for job in jobs:
            job.cancel(check=False)

    def summary(self) -> str:
        return ""


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
ATTEMPT = "job attempt"  # CellJob's first log line, in the job's log and the cell's


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
            raise SchedulerError(f"{job.cell.label}: sbatch refused the job: {_last_line(str(exc))}") from None

    def claim(self, job: submitit.Job) -> Claim:
        return Claim.slurm(job.job_id, log=str(job.paths.stderr))

    def poll(self, jobs: list[submitit.Job]) -> dict[str, str | None]:
        states = squeue([job.job_id for job in jobs])  # before the result files: a job writes them, then ends
        ends, self._pending = {}, {}
        for job in jobs:
            outcome = _outcome(job)
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


def job_folder(cfg: StudyConfig) -> Path:
    """Where submitit keeps the job scripts, pickles, results and logs."""
    return Path(cfg.executor.folder).resolve() if cfg.executor.folder else Path(cfg.out).resolve() / "submitit"


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
        log.warning("squeue: %s", _last_line(done.stderr))
        return None
    states = {}
    for line in done.stdout.splitlines():
        job_id, state, reason = (line.split("|", 2) + ["", ""])[:3]
        states[job_id.strip()] = (state.strip(), reason.strip())
    return states


def _outcome(job: submitit.Job) -> str | None:
    """From the job's result file: None if there is none yet, "" if the cell succeeded, else the error's last line.

    Task 0's file: rank 0 runs the cell (the other tasks of a DDP job only train with it,
    and fail when it is requeued).
    """
    try:
        with open(job.paths.result_pickle, "rb") as file:
            status, value = pickle.load(file)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None  # not there yet, or being written
    if status == "success":
        return ""
    not_requeued = re.search(r"UncompletedJobError: (.*)", str(value))  # submitit gave up requeueing
    return not_requeued.group(1) if not_requeued else re.sub(r"^[\w.]+\.(\w+): ", r"\1: ", _last_line(str(value)))


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


def _seconds(done_file: Path) -> str:
    import json

    try:
        return f"{json.loads(done_file.read_text())['seconds']:.0f} s"
    except (OSError, ValueError, KeyError):
        return "? s"


def _job_claim(env) -> Claim:
    if env.cluster == "slurm":
        return Claim.slurm(env.job_id, log=str(env.paths.stderr))
    return Claim.process(int(env.job_id))


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return re.sub(r"^((sbatch|squeue|sinfo|scontrol): (error|fatal): |allocation failure: )+", "", lines[-1]) if lines else ""


# ---------------------------------------------------------------------------------------
# Logs and signals


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


def _log_to_stderr() -> None:
    """In a job: braintune's INFO logging to the job's log (stderr), and no Hugging Face progress bars there."""
    import transformers

    if not sys.stderr.isatty():
        transformers.utils.logging.disable_progress_bar()
    root = logging.getLogger("braintune")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


@contextlib.contextmanager
def _signals_interrupt():
    """SIGTERM and SIGHUP act as Ctrl-C (KeyboardInterrupt) while jobs run, so the run cancels them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# ---------------------------------------------------------------------------------------
# Checking a Slurm cluster before the run starts

SLURM_TOOLS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo", "srun")


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
    from braintune.study.plan import plan_cells  # lazily: plan imports the config, which imports this module

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
            f"{_last_line(done.stderr)}")


def _slurm(command: list[str], problem: str) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise SchedulerError(f"{problem}: {command[0]} did not return within 60 s") from None
    if done.returncode != 0:
        raise SchedulerError(f"{problem}: {_last_line(done.stderr) or command[0] + ' failed'}")
    return done.stdout


def _minutes(limit: str) -> int | None:
    """A Slurm time limit ("UNLIMITED", "MM", "HH:MM:SS", "D-HH:MM:SS") in minutes; None if unlimited."""
    if limit in ("UNLIMITED", "INFINITE", "NONE"):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(x) for x in clock.split(":")]
    hours, minutes, seconds = ([0] * (3 - len(parts)) + parts) if len(parts) > 1 else (0, parts[0], 0)
    return int(days or 0) * 1440 + hours * 60 + minutes + (seconds > 0)

