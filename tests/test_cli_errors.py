"""Failed writes and broken inputs reach the user as one line naming the path, never a
traceback, and what was already written stays intact."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from braintune import io
from braintune.cli import main, one_line


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    return err


def test_an_output_path_that_is_a_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("keep me")
    assert main(["simulate", str(tmp_path / "afile" / "sim")]) == 1
    assert f"{tmp_path / 'afile'}" in _one_line(capsys)
    assert (tmp_path / "afile").read_text() == "keep me"


def test_a_full_disk_keeps_the_previous_file(tmp_path, monkeypatch, capsys):
    """Guards against half-written tables: the write goes to a temporary name first."""
    table = pd.DataFrame({"a": [1, 2]})
    io.write_table(table, tmp_path, "t")
    before = (tmp_path / "t.csv").read_bytes()

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    monkeypatch.setattr("braintune.cli.report.run", lambda args: io.write_table(table, tmp_path, "t"))
    assert main(["report", str(tmp_path)]) == 1
    assert "No space left on device" in _one_line(capsys)
    assert (tmp_path / "t.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.parquet"]  # no temporary left behind


def test_only_a_full_disk_is_reported_as_one(tmp_path, monkeypatch):
    """Guards against a full disk told as a bare torch error (or another error told as a full disk):
    ENOSPC, or torch's short-write RuntimeError (no errno) with the folder's disk (almost) full, is
    one line naming the target, the free space and what was written; the previous file stays and
    no temporary remains. The same RuntimeError with room to spare is raised as it was."""
    target = tmp_path / "state.pt"
    target.write_bytes(b"previous")
    usage = shutil.disk_usage(tmp_path)
    short_write = RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    def failing(exc):
        def write(tmp):
            tmp.write_bytes(b"partial")
            raise exc
        return write

    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10**12))
    with pytest.raises(RuntimeError, match="unexpected pos"):
        io.write_atomic_with(target, failing(short_write))
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=0))
    with pytest.raises(ValueError, match="not about space"):
        io.write_atomic_with(target, failing(ValueError("not about space")))
    with pytest.raises(OSError) as full:
        io.write_atomic_with(target, failing(short_write))
    assert full.value.errno == errno.ENOSPC and one_line(full.value) == (
        f"{target}: No space left on device (the disk is full: 0 bytes free in {tmp_path}; the write stopped after "
        "7 bytes); the previous state.pt is kept; free some space and rerun")
    fresh = tmp_path / "table.csv"
    with pytest.raises(OSError) as full:
        io.write_atomic_with(fresh, failing(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "a temporary")))
    assert one_line(full.value) == (f"{fresh}: No space left on device (the disk is full: 0 bytes free in {tmp_path}; "
                                    "the write stopped after 7 bytes); free some space and rerun")
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["state.pt"]


def test_a_full_disk_while_writing_a_model_folder_keeps_the_previous_one(tmp_path, monkeypatch):
    """io.write_folder_atomic (the tuned backbone, the pretrained model): the same one line, the
    previous folder intact, no temporary folder left."""
    model = tmp_path / "backbone"
    model.mkdir()
    (model / "config.json").write_text("previous")

    def save(tmp):
        tmp.mkdir()
        (tmp / "config.json").write_text("new")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed: file write failed")

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=0))
    with pytest.raises(OSError) as full:
        io.write_folder_atomic(model, save)
    assert one_line(full.value) == (f"{model}: No space left on device (the disk is full: 0 bytes free in {tmp_path}; "
                                    "the write stopped after 3 bytes); the previous backbone is kept; free some space "
                                    "and rerun")
    assert (model / "config.json").read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == ["backbone"]
    io.write_folder_atomic(model, lambda tmp: (tmp.mkdir(), (tmp / "weights").write_text("new")))
    assert [p.name for p in model.iterdir()] == ["weights"]


def test_a_file_size_limit_is_one_line(tmp_path):
    """A process over its file-size limit (RLIMIT_FSIZE: writes fail with EFBIG) prints one line."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
            "from braintune.cli import main; sys.exit(main(sys.argv[1:]))")
    done = subprocess.run([sys.executable, "-c", code, "simulate", str(tmp_path / "sim"), "--participants", "1",
                           "--train-stories", "1", "--story-minutes", "0.5", "0.5", "--repeats", "2", "--voxels", "60"],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 1, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "File too large" in last and "Traceback" not in done.stderr


@pytest.mark.parametrize("argv", [["report", "{tmp}/nothing"], ["align", "--data", "{tmp}/nothing", "--model",
                                  "tiny:wav2vec2", "--subjects", "UTS01", "--out", "{tmp}/out"]])
def test_missing_folders_are_one_line(argv, tmp_path, capsys):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 1
    assert "nothing" in _one_line(capsys)


def test_stale_temporaries_of_killed_runs_are_removed(tmp_path):
    """Guards against leftovers: a rerun removes what killed processes of this host left, and only that."""
    import socket

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid, host = int(dead.stdout), socket.gethostname()
    stale_file = tmp_path / "cells" / f".table.tmp-{host}-{pid}.csv"
    stale_dir = tmp_path / "features" / f"timit-abc.tmp-{host}-{pid}"
    live = tmp_path / f".table.tmp-{host}-{os.getpid()}.csv"
    elsewhere = tmp_path / f".table.tmp-otherhost-{pid}.csv"
    for path in (stale_file, live, elsewhere):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    stale_dir.mkdir(parents=True)
    (stale_dir / "pooled_0.npy").write_text("x")
    assert io.remove_stale_temporaries(tmp_path) == 2
    assert not stale_file.exists() and not stale_dir.exists() and live.exists() and elsewhere.exists()
    assert io.temporary_path(tmp_path / "a.csv").name == f".a.tmp-{host}-{os.getpid()}.csv"
