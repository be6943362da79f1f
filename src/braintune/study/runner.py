"""Run a study: every cell in dependency order, each cached, then the tables and the report.

Run folder layout::

    RUN/config.yaml                 the resolved config (each participant's training stories written out)
    RUN/cells/<stage>/<model>/<participant>-<key>/   one folder per cell; done.json marks it finished
    RUN/cache/features/             hidden-state caches shared by the cells
    RUN/tables/alignment.csv|parquet, RUN/tables/probing.csv|parquet
    RUN/figures/, RUN/report.html   (braintune.report)
    RUN/study.log
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import time
from pathlib import Path

import pandas as pd

from braintune.data.check import require_study_data
from braintune.io import remove_stale_temporaries, write_atomic, write_table
from braintune.progress import tqdm
from braintune.study.config import StudyConfig, dump_config
from braintune.study.executors import make_executor
from braintune.study.plan import Cell, plan_cells, study_inputs
from braintune.study.stages import RUNNERS, STAGE_TABLE

log = logging.getLogger(__name__)

DONE = "done.json"


def is_done(cell: Cell, run_dir: Path) -> bool:
    marker = cell.folder(run_dir) / DONE
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("key") == cell.key
    except (OSError, json.JSONDecodeError):
        return False


def run_cell(cell: Cell, cfg: StudyConfig, run_dir: Path) -> Path:
    """Run one cell unless it is already done; return its folder. Safe to call in a subprocess."""
    folder = cell.folder(run_dir)
    if is_done(cell, run_dir):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    RUNNERS[cell.stage](cell, cfg, Path(run_dir), folder)
    summary = {"key": cell.key, "stage": cell.stage, "model": cell.model, "participant": cell.participant,
               "seconds": round(time.time() - started, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "host": socket.gethostname(), "pid": os.getpid()}
    write_atomic(folder / DONE, json.dumps(summary, indent=1))
    return folder


def prepare_run(cfg: StudyConfig) -> Path:
    """Create the run folder (never cleaning anything) and save the resolved config."""
    run_dir = Path(cfg.out).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(run_dir / "config.yaml", dump_config(cfg))
    return run_dir


def collect_tables(cfg: StudyConfig, run_dir: Path, cells: list[Cell]) -> dict[str, Path]:
    """Concatenate the cells' tables into RUN/tables/{alignment,probing}.{csv,parquet}."""
    parts: dict[str, list[pd.DataFrame]] = {"alignment": [], "probing": []}
    for cell in cells:
        table = cell.folder(run_dir) / "table.csv"
        kind = STAGE_TABLE[cell.stage].kind
        if kind != "tune" and table.exists():
            parts["alignment" if kind == "align" else "probing"].append(pd.read_csv(table))
    return {name: write_table(pd.concat(frames, ignore_index=True), run_dir / "tables", name)
            for name, frames in parts.items() if frames}


def run_study(cfg: StudyConfig, executor: str | None = None) -> Path:
    """Run every cell of the study that is not already done, then tables and report.

    executor: "local" (this process), "local-processes" (each cell a subprocess through
    submitit's local executor) or "slurm" (braintune.study.executors); default: the
    config's executor.name. A Slurm cluster is checked before the run folder is made.
    """
    name = executor or cfg.executor.name
    inputs = study_inputs(cfg)
    kinds = {STAGE_TABLE[s].kind for s in cfg.stages if s in STAGE_TABLE}
    probes = cfg.probe if "probe" in kinds else None
    require_study_data(inputs.dataset, inputs.splits, rois="align" in kinds,
                       timit_root=cfg.data.timit if probes and probes.needs_timit else None,
                       timit_test_set=cfg.probe.timit_test_set,
                       speech_commands_root=cfg.data.speech_commands if probes and probes.needs_speech_commands else None)
    if inputs.splits:
        cfg = dataclasses.replace(cfg, split=cfg.split.resolved(inputs.splits))
    cell_executor = make_executor(name, cfg)
    run_dir = prepare_run(cfg)
    _log_to_file(run_dir / "study.log")
    remove_stale_temporaries(run_dir)
    cells = plan_cells(cfg, inputs)
    todo = [c for c in cells if not is_done(c, run_dir)]
    log.info("study %s: %d cells, %d cached, %d to run (%s)", cfg.name, len(cells), len(cells) - len(todo), len(todo), name)
    with tqdm(total=len(cells), desc=f"study {cfg.name}", unit="cell", initial=len(cells) - len(todo)) as bar:
        cell_executor.run(todo, run_dir, bar)
    tables = collect_tables(cfg, run_dir, cells)
    if "report" in cfg.stages and tables:
        from braintune.report import build_report

        report = build_report(run_dir)
        log.info("report: %s", report)
    return run_dir


def _log_to_file(path: Path) -> None:
    root = logging.getLogger("braintune")
    if not any(isinstance(h, logging.FileHandler) and h.baseFilename == str(path) for h in root.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(min(root.level or logging.INFO, logging.INFO))
