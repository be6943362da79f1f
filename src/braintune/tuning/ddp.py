"""Brain-tuning with DDP on one machine: a run described in SPEC.json, one process per device.

    python -m torch.distributed.run --standalone --nproc-per-node N -m braintune.tuning SPEC.json

SPEC.json (written atomically by the caller, `write_spec`) holds what `tune` takes: data and
its layout, the participants, model, out, settings (the TuneSettings fields), each
participant's split (train, validation, test), resume and stop_after_epoch. Every process reads it and calls `tune`. A BraintuneError in
a process is written to SPEC.error.json, so `launch` raises it again as one line.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from braintune import errors
from braintune.data.fmri import DEFAULT_LAYOUT, StorySplit
from braintune.data.fsaverage import CommonSpace
from braintune.errors import BraintuneError, DataError
from braintune.io import write_atomic
from braintune.settings import from_mapping, to_dict
from braintune.tuning.settings import TuneSettings

log = logging.getLogger(__name__)


def write_spec(path: str | os.PathLike, data: str | os.PathLike, subject: str | list[str], model: str | os.PathLike,
               out: str | os.PathLike, settings: TuneSettings, split: StorySplit | dict[str, StorySplit], *,
               resume: bool = False, stop_after_epoch: int | None = None, layout: str = DEFAULT_LAYOUT,
               space=None) -> Path:
    """Write SPEC.json (atomically) for `python -m braintune.tuning`; returns its path.
    subject and split: one participant and its split, or participants and participant -> split."""
    participants = [subject] if isinstance(subject, str) else list(subject)
    splits = {participants[0]: split} if isinstance(split, StorySplit) else split
    spec = {"data": str(data), "layout": layout, "participants": participants, "model": str(model), "out": str(out),
            "settings": to_dict(settings), "splits": {p: splits[p].to_dict() for p in participants},
            "resume": resume, "stop_after_epoch": stop_after_epoch,
            "space": None if space is None else {"atlas": space.atlas, "affines": space.affines}}
    return write_atomic(path, json.dumps(spec, indent=1))


def read_spec(path: str | os.PathLike) -> dict:
    """SPEC.json as `tune`'s arguments (settings as TuneSettings, splits as StorySplits)."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
        splits = {p: StorySplit(list(s["train"]), s["validation"], s["test"]) for p, s in spec["splits"].items()}
        return {"data": spec["data"], "layout": spec["layout"], "subject": list(spec["participants"]),
                "model": spec["model"], "out_dir": spec["out"],
                "settings": from_mapping(TuneSettings, spec["settings"], "settings."), "split": splits,
                "resume": bool(spec.get("resume", False)), "stop_after_epoch": spec.get("stop_after_epoch"),
                "space": None if spec.get("space") is None else CommonSpace(**spec["space"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a brain-tuning spec ({type(exc).__name__}: {exc})") from None


def error_path(spec_path: str | os.PathLike) -> Path:
    """Where a process leaves its BraintuneError: SPEC.error.json beside SPEC.json."""
    return Path(spec_path).with_suffix(".error.json")


def launch(spec_path: str | os.PathLike, processes: int) -> None:
    """Run the spec with `processes` DDP processes on this machine and wait.

    A BraintuneError in a process is raised here again (same class and message); any
    other failure is a RuntimeError pointing at the processes' output.
    """
    error_path(spec_path).unlink(missing_ok=True)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
               "-m", "braintune.tuning", str(spec_path)]
    log.info("running %s", " ".join(command))
    done = subprocess.run(command)
    if done.returncode == 0:
        return
    if error_path(spec_path).is_file():
        failure = json.loads(error_path(spec_path).read_text())
        raise getattr(errors, failure["type"], BraintuneError)(failure["message"])
    raise RuntimeError(f"brain-tuning {spec_path} with {processes} processes failed (exit code {done.returncode}); "
                       "see the processes' output above")
