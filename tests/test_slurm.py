"""The cluster path on a real Slurm (.ci/slurm-up starts one): the README's cluster section's commands as
written, cancellation, Ctrl-C, a second run of the same study, a requeue after the
time-limit signal, and the scheduler's errors as one line before anything is written.

These tests submit real jobs and follow them through squeue; they need the test cluster
(see tests/conftest.py::slurm_status) and take about four minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from braintune.cli import main

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

REPO = Path(__file__).resolve().parents[1]
LIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "SUSPENDED"}


def cluster_section() -> str:
    """The README's section "Running on a Slurm cluster" (what these tests run, as written)."""
    text = (REPO / "README.md").read_text()
    return text.split("## Running on a Slurm cluster", 1)[1].split("\n## ", 1)[0]


def doc_commands() -> list[list[str]]:
    """The `braintune run` commands of the README's cluster section, as argument lists (without "braintune")."""
    text = cluster_section()
    blocks = re.findall(r"```\n(.*?)```", text, re.S)
    return [shlex.split(b.replace("\\\n", " "))[1:] for b in blocks if b.startswith("braintune run ")]


@pytest.fixture
def data_paths(sim_dataset_paper_names, standin_timit, standin_commands, tmp_path):
    """The documentation's placeholder folders -> the simulated stand-ins in the same layouts
    (ds003020's story names: configs/lebel2024.yaml trains on the paper's list)."""
    return {"/data/ds003020": str(sim_dataset_paper_names), "/data/timit": str(standin_timit),
            "/data/speech_commands_v0.02": str(standin_commands), "runs/cluster-check": str(tmp_path / "check")}


def substitute(argv: list[str], paths: dict[str, str]) -> list[str]:
    out = []
    for word in argv:
        for placeholder, path in paths.items():
            word = word.replace(placeholder, path)
        out.append(word)
    return out


@pytest.fixture
def one_thread(monkeypatch):
    """Jobs inherit the environment of sbatch: one thread each, on 2 cores."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.chdir(REPO)


@pytest.fixture
def start():
    """start(argv, log): `braintune ARGV` in a subprocess (output to `log`); Ctrl-C'd at the end if still running."""
    started = []

    def start(argv: list[str], log: Path) -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, "-m", "braintune", *argv], cwd=REPO, stdout=log.open("w"),
                                        stderr=subprocess.STDOUT, env=os.environ.copy()))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)  # the run cancels its jobs
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            pytest.fail(f"the run ended (rc {process.returncode}) before {what}:\n{log.read_text()[-3000:] if log else ''}")
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout} s waiting for {what}" + (f":\n{log.read_text()[-3000:]}" if log else ""))


def job_states(job_ids) -> dict[str, str]:
    done = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T", f"--jobs={','.join(job_ids)}"],
                          capture_output=True, text=True)
    return dict(line.split("|") for line in done.stdout.split())


def claim_of(cell_folder_glob: str, root: Path) -> dict | None:
    found = list(root.glob(f"{cell_folder_glob}/claim.json"))
    try:
        return json.loads(found[0].read_text()) if found else None
    except (OSError, ValueError):
        return None


def running_job(stage: str, run: Path, other_than: str | None = None) -> str | None:
    """The Slurm job that holds the claim of the `stage` cell once it runs."""
    claim = claim_of(f"cells/{stage}/*/*", run)
    if claim and claim["kind"] == "slurm" and claim["id"] != other_than:
        if job_states([claim["id"]]).get(claim["id"]) == "RUNNING":
            return claim["id"]
    return None


def stopped(job_id: str) -> bool:
    """Every process Slurm tracks for the job (`scontrol listpids`) is stopped (state T) or gone."""
    listed = subprocess.run(["scontrol", "listpids", job_id], capture_output=True, text=True).stdout.splitlines()[1:]
    pids = [line.split()[0] for line in listed if line.strip()]
    states = []
    for pid in pids:
        try:
            states.append(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            pass  # ended since
    return bool(pids) and all(state in "Tt" for state in states)


def run_jobs(run: Path) -> list[str]:
    return sorted({p.name.split("_")[0] for p in (run / "submitit").glob("*_submission.sh")})


def test_cluster_check_runs_every_kind_of_job_on_cpus_equal_to_local_after_a_cancel(data_paths, one_thread, start,
                                                                                      tmp_path):
    """the README's cluster section's cluster check, as written, on simulated data: CPU-only jobs
    (gpus_per_job 0) of every kind give tables byte-identical to the local executor, also
    after the tune job is cancelled and the command rerun.

    Guards against: overrides after --executor rejected ("unrecognized arguments");
    `--ntasks-per-node=0` for tune jobs on CPU partitions; a cancelled job hanging the run
    when there is no accounting (sacct), or ending it with a traceback.
    """
    check = substitute(doc_commands()[0], data_paths)
    run, local = Path(data_paths["runs/cluster-check"]), tmp_path / "local"
    reference = start(check[:check.index("--executor")] + [f"out={local}"], tmp_path / "local.log")  # meanwhile
    log = tmp_path / "first.log"
    first = start(check, log)
    tune_job = wait_for(lambda: running_job("tune", run), 180, "the tune job to run", first, log)
    cancelled = time.monotonic()
    subprocess.run(["scancel", tune_job], check=True)
    first.wait(timeout=120)
    reported = time.monotonic() - cancelled
    out = log.read_text()
    assert first.returncode == 1, out
    assert re.search(rf"tune tiny:wav2vec2 UTS01: Slurm job {tune_job} was cancelled \(log: \S+{tune_job}_0_log.err\)", out)
    assert "error: the run stopped; rerun the same command to resume" in out and "Traceback" not in out
    assert reported < 10 + 10  # poll_seconds (default 10), and the run's end
    wait_for(lambda: not LIVE & set(job_states(run_jobs(run)).values()), 60, "the run's jobs to end")

    assert main(check) == 0  # the rerun takes over the cancelled job's claim and finishes
    assert reference.wait(timeout=600) == 0, (tmp_path / "local.log").read_text()
    for name in ("alignment.csv", "probing.csv", "alignment.parquet", "probing.parquet"):
        assert (run / "tables" / name).read_bytes() == (local / "tables" / name).read_bytes(), name
    script = next((run / "submitit").glob("*_submission.sh")).read_text()
    assert "--gpus-per-node" not in script and "#SBATCH --ntasks-per-node=1" in script
    tune_log = next(run.glob("cells/tune/*/*/cell.log")).read_text()
    assert "epoch 1/1" in tune_log and "job attempt 1, Slurm job" in tune_log  # the job's INFO log, in the cell
    study_log = (run / "study.log").read_text()
    assert re.search(r"tune tiny:wav2vec2 UTS01: finished in \d+ s \(Slurm job \d+; log \S+cell.log\)", study_log)


@pytest.fixture
def tune_study(sim_dataset, tmp_path):
    """One tiny brain-tuning cell of 40 short epochs (~1 s each at one thread)."""
    config = {
        "name": "ctrlc", "out": str(tmp_path / "run"), "models": ["tiny:wav2vec2"], "participants": ["UTS01"],
        "stages": ["tune"], "data": {"fmri": str(sim_dataset)},
        "tune": {"epochs": 40, "batch_size": 8, "micro_batch_size": 8, "window_seconds": 4.0, "warmup_epochs": 1,
                 "ceiling_threshold": 0.3},
        "executor": {"partition": "gpu", "gpus_per_job": 2, "cpus_per_job": 2, "mem_gb": 2, "time_minutes": 10,
                     "poll_seconds": 1},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def epochs_done(run: Path) -> list[int]:
    found = list(run.glob("cells/tune/*/*/log.jsonl"))
    return [json.loads(line)["epoch"] for line in found[0].read_text().splitlines()] if found else []


def test_ctrl_c_cancels_a_second_run_waits_and_takes_over_and_a_timed_out_job_resumes(tune_study, one_thread, start,
                                                                                       tmp_path):
    """Run A brain-tunes (DDP over 2 fake GPUs: 2 tasks); run B of the same study waits for
    A's job instead of submitting its own; Ctrl-C on A cancels its job; B takes over the
    dead claim and resumes from A's last epoch; its job gets Slurm's time-limit signal
    (USR2, what `sbatch --signal=USR2@signal_seconds` sends), is requeued, resumes again
    and finishes, each epoch trained exactly once.

    The signal is sent with `scancel --signal=USR2`, as Slurm sends it: Slurm checks time
    limits every 30 s, too coarse for a short test.

    No race with A's job, however fast the machine: it is suspended (`scontrol suspend`, CI
    runs as root, Slurm's operator), checked stopped process by process, and stays suspended
    until A's Ctrl-C has cancelled it, so it cannot finish the cell first.

    Guards against: Ctrl-C leaving jobs running; a second run submitting a duplicate job
    that writes the same cell at once; a timed-out job "not requeued because: timed-out and
    not checkpointable".
    """
    run = tmp_path / "run"
    argv = ["run", str(tune_study), "--executor", "slurm"]
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = start(argv, log_a)
    job_a = wait_for(lambda: running_job("tune", run), 120, "A's job to run", a, log_a)
    wait_for(lambda: len(epochs_done(run)) >= 2, 120, "A's first epoch", a, log_a)
    # A's job is suspended from here until A's Ctrl-C cancels it (a suspended job is still alive to B)
    subprocess.run(["scontrol", "suspend", job_a], check=True)
    wait_for(lambda: job_states([job_a]).get(job_a) == "SUSPENDED" and stopped(job_a), 30,
             "every process of A's job to be stopped", a, log_a)
    b = start(argv, log_b)
    wait_for(lambda: f"waiting for Slurm job {job_a}, which holds this cell" in log_b.read_text(), 120,
             "B to wait for A's job", b, log_b)
    assert run_jobs(run) == [job_a]  # B submitted nothing
    assert stopped(job_a)

    a.send_signal(signal.SIGINT)
    a.wait(timeout=60)
    out_a = log_a.read_text()
    assert a.returncode == 130, out_a
    assert f"cancelled 1 job of this run: {job_a}" in out_a and "interrupted; finished outputs are kept" in out_a
    job_b = wait_for(lambda: running_job("tune", run, other_than=job_a), 120, "B's own job", b, log_b)
    assert job_states([job_a])[job_a] == "CANCELLED"  # A's job had ended before B took over
    assert f"took over the claim of Slurm job {job_a}" in log_b.read_text()

    resumed_at = len(epochs_done(run))
    wait_for(lambda: len(epochs_done(run)) > resumed_at, 120, "B's job to train an epoch", b, log_b)
    subprocess.run(["scancel", "--signal=USR2", job_b], check=True)
    assert b.wait(timeout=300) == 0, log_b.read_text()

    assert epochs_done(run) == list(range(41))  # epoch 0 = before tuning; none twice, none lost
    cell = next(run.glob("cells/tune/*/*"))
    assert (cell / "backbone" / "config.json").is_file() and (cell / "done.json").is_file()
    assert not (cell / "claim.json").exists()
    cell_log = (cell / "cell.log").read_text()
    assert f"job attempt 2, Slurm job {job_b}" in cell_log  # requeued: the same job, a second attempt
    assert len(re.findall(r"resuming \S+ after epoch \d+", cell_log)) == 2  # after A's cancel, after the requeue
    script = (run / "submitit" / f"{job_b}_submission.sh").read_text()
    for option in ("--signal=USR2@90", "--time=10", "--gpus-per-node=2", "--ntasks-per-node=2", "--cpus-per-task=1"):
        assert f"#SBATCH {option}\n" in script


@pytest.fixture
def small_study(sim_dataset, standin_timit, tmp_path):
    config = {
        "name": "small", "out": str(tmp_path / "run"), "models": ["tiny:wav2vec2"], "participants": ["UTS01"],
        "stages": ["tune", "probe_pretrained"], "data": {"fmri": str(sim_dataset), "timit": str(standin_timit)},
        "tune": {"epochs": 1, "batch_size": 8, "window_seconds": 4.0, "warmup_epochs": 1, "ceiling_threshold": 0.3},
        "probe": {"tasks": ["mfcc"]},
        "executor": {"gpus_per_job": 0, "cpus_per_job": 1, "mem_gb": 1, "time_minutes": 10, "poll_seconds": 1},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("overrides, message", [
    (["executor.partition=nope"], "executor.partition: no partition 'nope' on this cluster (partitions: debug, gpu, lab)"),
    (["executor.partition=lab", "executor.account=other"],
     "executor.account: partition 'lab' does not accept account 'other' (it allows lab)"),
    (["executor.partition=gpu", "executor.gpus_per_job=4"],
     "executor: partition 'gpu' cannot run the brain-tuning jobs (4 GPU, 1 CPU, 1 GB, 10 min): "
     "Requested node configuration is not available"),
    (["executor.mem_gb=100000"], "executor: partition 'debug' cannot run the alignment and probing jobs"),
    (["executor.time_minutes=120"], "executor.time_minutes: 120 exceeds the time limit of partition 'debug' (60 min)"),
])
def test_scheduler_errors_are_one_line_before_the_run_folder_exists(small_study, overrides, message, capsys):
    """A wrong partition, an account the partition refuses, resources it lacks, a time limit
    beyond its own: one line naming the setting, and no run folder.

    Guards against: a 42-line traceback ending in sbatch's message, after the run folder was created.
    """
    assert main(["run", str(small_study), "--executor", "slurm", *overrides]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"braintune run: error: {message}") and err.count("\n") == 1, err
    assert not (small_study.parent / "run").exists()


def test_unreachable_controller_is_one_line(small_study, tmp_path, monkeypatch, capsys):
    """Slurm's tools are installed but the controller does not answer: one line, no run folder."""
    conf = Path(os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")).read_text()
    (tmp_path / "slurm.conf").write_text(re.sub(r"(?m)^SlurmctldHost=.*$", "SlurmctldHost=localhost(127.0.0.2)", conf)
                                         + "SlurmctldPort=9\n")
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "slurm.conf"))
    assert main(["run", str(small_study), "--executor", "slurm"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("braintune run: error: Slurm does not answer: ") and err.count("\n") == 1, err
    assert not (small_study.parent / "run").exists()


def test_a_failing_cell_is_one_line_with_its_log_and_the_readme_command_runs(small_study, data_paths, one_thread,
                                                                              tmp_path, caplog):
    """A cell that raises in its job: one line naming the cell, the job, the error and its log;
    the run's other job, running beside it, is cancelled. Then the README's study command (the README's cluster section),
    as written but for the data folders and overrides appended to shrink it to one cheap
    probing cell, runs on the gpu partition with a (fake) GPU.

    Guards against: job failures as tracebacks that leave the run's other jobs running; the
    README's command exiting 2 with "unrecognized arguments: executor.partition=gpu".
    """
    assert main(["run", str(small_study), "tune.ceiling_threshold=0.99", "--executor", "slurm"]) == 1
    messages = [r.getMessage() for r in caplog.records if r.name == "braintune.study.executors"]
    failure = next(m for m in messages if " failed: " in m)
    assert re.fullmatch(r"tune tiny:wav2vec2 UTS01: Slurm job \d+ failed: DataError: \S+: UTS01 has no voxel with a "
                        r"noise ceiling above 0.99 .* \(log: \S+_0_log.err\)", failure), failure
    probe_job = next(re.search(r"probe_pretrained tiny:wav2vec2: submitted as Slurm job (\d+)", m) for m in messages
                     if "probe_pretrained" in m).group(1)
    assert f"cancelled 1 job of this run: {probe_job}" in messages
    wait_for(lambda: job_states([probe_job]).get(probe_job) == "CANCELLED", 30, "the probe job to be cancelled")

    out = tmp_path / "paper"
    paper = substitute(doc_commands()[1], data_paths) + [
        f"out={out}", "models=[tiny:wav2vec2]", "participants=[UTS01]", "stages=[probe_pretrained]",
        "probe.tasks=[mfcc]", "executor.cpus_per_job=1", "executor.mem_gb=1", "executor.time_minutes=10",
        "executor.poll_seconds=1"]
    assert paper[paper.index("--executor"):][:3] == ["--executor", "slurm", "executor.partition=gpu"]
    assert main(paper) == 0
    script = next((out / "submitit").glob("*_submission.sh")).read_text()
    assert "#SBATCH --partition=gpu\n" in script and "#SBATCH --gpus-per-node=1\n" in script
    assert (out / "tables" / "probing.csv").is_file()
