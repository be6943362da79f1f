"""Cells as submitit jobs: the "local-processes" executor, and what the Slurm one shares with it.

JobExecutor submits each cell as soon as the cells it depends on are done, and follows the
jobs (ProcessJobs here; braintune.study.executors.slurm.SlurmJobs on Slurm). The first job
that does not finish is reported in one line with its log; the run then cancels its other
jobs and stops, and a rerun resumes. Ctrl-C (SIGINT, SIGTERM, SIGHUP) cancels the run's jobs
too.

Every cell job (CellJob) is checkpointable in submitit's sense: on a time limit or a
preemption submitit calls CellJob.checkpoint and requeues the job, which resumes from what
the cell keeps on disk; a job times out at most `max_requeues` times.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import submitit

from braintune.errors import SchedulerError
from braintune.study import claims, runner, stages
from braintune.study.claims import Claim
from braintune.study.config import load_config
from braintune.study.executors.local import CELL_LOG, LOG_FORMAT, Executor, cell_log, claim_alive, log_waiting
from braintune.study.stages import STAGE_TABLE

if TYPE_CHECKING:
    from braintune.study.config import StudyConfig
    from braintune.study.plan import Cell

log = logging.getLogger(__package__)  # one logger for the executors: study.log says "braintune.study.executors"

RESUME = "rerun the same command to resume: finished cells are reused and brain-tuning resumes from its last checkpoint"
ATTEMPT = "job attempt"  # CellJob's first log line, in the job's log and the cell's


def process_executor(cfg: StudyConfig) -> JobExecutor:
    """The "local-processes" executor: each cell a local process through submitit."""
    return JobExecutor(cfg, ProcessJobs(cfg))


@dataclass
class _Ticket:
    """A started cell: our job, or (job None) another run's claim we wait on."""

    cell: Cell
    claim: Claim
    job: submitit.Job | None = None


class JobExecutor(Executor):
    """Runs cells as jobs ("local-processes", "slurm"), each once the cells it needs are done."""

    def __init__(self, cfg: StudyConfig, jobs: ProcessJobs):
        super().__init__(cfg)
        self.jobs = jobs
        self.me = Claim.process()

    def run(self, cells: list[Cell], run_dir: Path, bar) -> None:
        waiting, tickets = list(cells), []
        try:
            with _signals_interrupt():
                while waiting or tickets:
                    ready = [c for c in waiting if all(runner.is_done(d, run_dir) for d in c.depends_on)]
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
        folder = cell.folder(run_dir)
        held = None if runner.is_done(cell, run_dir) else claims.acquire(folder, self.me, claim_alive)
        if held is not None:
            log_waiting(cell, held)
            tickets.append(_Ticket(cell, held))
            return
        if runner.is_done(cell, run_dir):  # done before, or by the run whose claim we took
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
        ends = self.jobs.poll([t.job for t in tickets if t.job is not None])
        for ticket in list(tickets):
            cell, folder = ticket.cell, ticket.cell.folder(run_dir)
            if ticket.job is None:  # another run's claim
                held = claims.read(folder)
                if runner.is_done(cell, run_dir):
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
            if end == "" and runner.is_done(cell, run_dir):
                log.info("%s: finished in %s (%s; log %s)", cell.label, _seconds(folder / runner.DONE),
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
            outcome = job_outcome(job)
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


def job_folder(cfg: StudyConfig) -> Path:
    """Where submitit keeps the job scripts, pickles, results and logs."""
    return Path(cfg.executor.folder).resolve() if cfg.executor.folder else Path(cfg.out).resolve() / "submitit"


def job_outcome(job: submitit.Job) -> str | None:
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
    return not_requeued.group(1) if not_requeued else re.sub(r"^[\w.]+\.(\w+): ", r"\1: ", last_line(str(value)))


def last_line(text: str) -> str:
    """The last non-empty line of a tool's or job's error, without Slurm's "sbatch: error: " prefixes."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return re.sub(r"^((sbatch|squeue|sinfo|scontrol): (error|fatal): |allocation failure: )+", "", lines[-1]) if lines else ""


def _seconds(done_file: Path) -> str:
    try:
        return f"{json.loads(done_file.read_text())['seconds']:.0f} s"
    except (OSError, ValueError, KeyError):
        return "? s"


def _job_claim(env) -> Claim:
    if env.cluster == "slurm":
        return Claim.slurm(env.job_id, log=str(env.paths.stderr))
    return Claim.process(int(env.job_id))


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
