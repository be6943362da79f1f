"""Executors without a cluster: command-line overrides, executor settings, the jobs' sbatch
options, cell claims, the no-Slurm error, and progress bars in log files.
(tests/test_slurm.py runs the cluster path on a real Slurm.)"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from braintune import progress
from braintune.cli import build_parser, main, parse_args
from braintune.errors import ConfigError
from braintune.study import claims, runner
from braintune.study.config import load_config
from braintune.study.executors import EXECUTORS, ExecutorSettings, job_parameters
from conftest import write_commands_layout


def test_overrides_may_follow_options():
    """`braintune run S.yaml --executor slurm executor.partition=debug` (the README's form).

    Guards against: "unrecognized arguments: executor.partition=debug" for overrides after an option.
    """
    args = parse_args(build_parser(), ["run", "s.yaml", "a=1", "--executor", "slurm", "executor.partition=debug", "b=2"])
    assert (args.config, args.executor, args.overrides) == ("s.yaml", "slurm", ["a=1", "executor.partition=debug", "b=2"])
    with pytest.raises(SystemExit) as exit_:
        parse_args(build_parser(), ["run", "s.yaml", "--executor", "slurm", "--partition", "debug"])
    assert exit_.value.code == 2


@pytest.mark.parametrize("override, message", [
    ("executor.name=cloud", "executor.name: one of local, local-processes, slurm; got 'cloud'"),
    ("executor.gpus_per_job=-1", "executor.gpus_per_job: must be at least 0, got -1"),
    ("executor.time_minutes=1", "executor.signal_seconds: must be shorter than the time limit (1 min), got 90"),
    ("executor.poll_seconds=0", "executor.poll_seconds: must be > 0, got 0.0"),
])
def test_executor_settings_are_checked(override, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(raw={"models": ["tiny:wav2vec2"], "stages": ["probe_pretrained"], "probe": {"tasks": ["words"]},
                         "data": {"speech_commands": "x"}}, overrides=[override])


def test_executor_settings_load_without_submitit():
    """Importing the executors and making their settings (what loading a study config does)
    leaves submitit, pandas and torch unimported; a subprocess, so other tests' imports do not count.

    Guards against: every config load paying for submitit (and what it imports).
    """
    code = ("import sys; from braintune.study.executors import ExecutorSettings; ExecutorSettings(name='slurm'); "
            "print(sorted({'submitit', 'pandas', 'torch'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_executor_name_leads_to_its_maker_and_the_cli_offers_each():
    """The one list of names (EXECUTORS): each entry's "module:callable" exists, and `--executor` takes each name."""
    import importlib

    for name, kind in EXECUTORS.items():
        module, _, make = kind.make.partition(":")
        assert callable(getattr(importlib.import_module(module), make)), name
        assert parse_args(build_parser(), ["run", "s.yaml", "--executor", name]).executor == name


def test_jobs_ask_for_gpus_per_node_and_one_task_per_gpu_only_with_several():
    """Guards against: tune jobs with `--ntasks-per-node=0` (gpus_per_job 0), and DDP tasks for one GPU."""
    def shape(gpus, stage):
        p = job_parameters(ExecutorSettings(gpus_per_job=gpus, cpus_per_job=8), stage, "n")
        return p["gpus_per_node"], p["ntasks_per_node"], p["cpus_per_task"]

    assert shape(0, "tune") == shape(0, "align_tuned") == (None, 1, 8)
    assert shape(1, "tune") == shape(1, "probe_pretrained") == (1, 1, 8)
    assert shape(4, "tune") == (4, 4, 2) and shape(4, "align_pretrained") == (1, 1, 8)


def test_docs_list_every_executor_setting_with_its_help_and_default():
    """The README's cluster settings table is ExecutorSettings' fields, defaults and help, in order."""
    import dataclasses
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Running on a Slurm cluster", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    expected = [f"| `{f.name}` | `{'null' if f.default is None else f.default}` | {f.metadata['help']} |"
                for f in dataclasses.fields(ExecutorSettings)]
    assert rows == expected


@pytest.fixture
def fake_probe(monkeypatch):
    """Stage probe_pretrained replaced by one that writes a one-row table at once (the executors are tested, not the stage)."""
    ran = []

    def probe(cell, cfg, run_dir, folder):
        ran.append(os.getpid())
        (folder / "table.csv").write_text("model,variant,participant,layer,task,metric,value\nm,pretrained,,0,mfcc,r2,0.5\n")

    monkeypatch.setitem(runner.RUNNERS, "probe_pretrained", probe)
    return ran


@pytest.fixture
def probe_study(tmp_path):
    commands = write_commands_layout(tmp_path / "speech_commands")
    config = {"name": "claims", "out": str(tmp_path / "run"), "models": ["tiny:wav2vec2"], "stages": ["probe_pretrained"],
              "probe": {"tasks": ["words"]}, "data": {"speech_commands": str(commands)},
              "executor": {"poll_seconds": 0.2}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_run_waits_for_a_live_claim_and_takes_over_when_its_process_ends(probe_study, fake_probe, caplog):
    """A cell claimed by a live process is not run until that process ends; then its claim is taken over.

    Guards against: two runs writing the same cell folder at once.
    """
    from braintune.study.plan import plan_cells

    cfg = load_config(probe_study)
    (cell,) = plan_cells(cfg)
    folder = cell.folder(cfg.out)
    other = subprocess.Popen(["sleep", "60"])
    assert claims.acquire(folder, claims.Claim.process(other.pid), claims.process_alive) is None
    ended = threading.Timer(1.0, other.kill)
    ended.start()
    started = time.monotonic()
    assert main(["run", str(probe_study)]) == 0
    assert time.monotonic() - started >= 1.0 and fake_probe == [os.getpid()]
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"waiting for process {other.pid} on " in m for m in messages)
    assert any(f"took over the claim of process {other.pid} on " in m for m in messages)
    assert not (folder / "claim.json").exists() and (folder / "done.json").exists()
    other.wait()


def test_claims_tell_live_dead_and_reused_processes(tmp_path):
    """A claim is held while its process lives; a dead process's claim, or one whose pid now
    belongs to another process (other start time), is taken over; a claim is ours only once."""
    me = claims.Claim.process()
    assert claims.acquire(tmp_path, me, claims.process_alive) is None
    assert claims.acquire(tmp_path, me, claims.process_alive) is None  # already ours
    sleeper = subprocess.Popen(["sleep", "60"])
    theirs = claims.Claim.process(sleeper.pid)
    assert claims.acquire(tmp_path, theirs, claims.process_alive) == me  # we are alive
    claims.release(tmp_path, me)
    assert claims.acquire(tmp_path, theirs, claims.process_alive) is None
    assert claims.acquire(tmp_path, me, claims.process_alive) == theirs
    reused = json.loads((tmp_path / "claim.json").read_text()) | {"started": "1"}  # same pid, another process
    (tmp_path / "claim.json").write_text(json.dumps(reused))
    assert not claims.process_alive(claims.read(tmp_path))
    assert claims.acquire(tmp_path, me, claims.process_alive) is None
    sleeper.kill()
    sleeper.wait()
    claims.release(tmp_path, me)
    assert not (tmp_path / "claim.json").exists()


def test_without_slurm_the_run_is_one_line_before_its_folder_exists(probe_study, tmp_path, monkeypatch, capsys):
    """Guards against: `RuntimeError: Could not detect "srun"` after the run folder was created."""
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(["run", str(probe_study), "--executor", "slurm"]) == 1
    err = capsys.readouterr().err
    assert err == ("braintune run: error: --executor slurm: sbatch, squeue, scancel, scontrol, sinfo, srun not found "
                   "on PATH; run braintune on a Slurm login node, or choose --executor local\n")
    assert not (tmp_path / "run").exists()


def test_progress_bars_write_plain_lines_when_not_on_a_terminal(monkeypatch):
    """Guards against: thousands of carriage-return redraws in job logs and redirected output."""
    monkeypatch.setattr(progress, "PLAIN_INTERVAL_SECONDS", 0.05)
    stream = io.StringIO()
    for _ in progress.tqdm(range(6), desc="stories", file=stream):
        time.sleep(0.03)
    quick = io.StringIO()
    for _ in progress.tqdm(range(1000), desc="quick", file=quick):
        pass
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert 2 <= len(lines) <= 4 and lines[-1].startswith("stories: 100%|##########| 6/6 [")
    assert quick.getvalue() == ""  # a bar shorter than the interval writes nothing
