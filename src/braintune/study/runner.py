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
from braintune.errors import ConfigError
from braintune.io import remove_stale_temporaries, write_atomic, write_table
from braintune.progress import tqdm
from braintune.study.config import StudyConfig, dump_config, load_config
from braintune.study.plan import Cell, plan_cells, study_inputs, waves
from braintune.study.stages import RUNNERS

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


def _run_cell_from_files(cell: Cell, config_path: str, run_dir: str) -> str:
    """Entry point of a cell in another process (submitit pickles this call)."""
    if os.environ.get("SLURM_NTASKS", "1") != "1":  # a multi-GPU tune cell: one task per GPU
        import submitit

        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    cfg = load_config(config_path)
    return str(run_cell(cell, cfg, Path(run_dir)))


def _submitit_executor(cfg: StudyConfig, run_dir: Path, cluster: str | None):
    import submitit

    folder = Path(cfg.executor.folder or run_dir / "submitit")
    if cluster == "local":
        executor = submitit.LocalExecutor(folder=str(folder))
        executor.update_parameters(timeout_min=cfg.executor.time_minutes)
        return executor
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    executor.update_parameters(
        timeout_min=cfg.executor.time_minutes, slurm_partition=cfg.executor.partition,
        gpus_per_node=cfg.executor.gpus_per_job, cpus_per_task=cfg.executor.cpus_per_job,
        mem_gb=cfg.executor.mem_gb, name=f"braintune-{cfg.name}",
    )
    return executor


def _run_remote(cells: list[Cell], cfg: StudyConfig, run_dir: Path, cluster: str, bar) -> None:
    """Submit each wave's unfinished cells as jobs, wait for the wave, then the next wave."""
    config_path = str(run_dir / "config.yaml")
    executor = _submitit_executor(cfg, run_dir, cluster)
    for wave in waves(cells):
        jobs = []
        for cell in wave:
            if is_done(cell, run_dir):
                bar.update(1)
                continue
            if cluster != "local":  # a tune cell: one DDP process per GPU; other cells: one process
                gpus = cfg.executor.gpus_per_job
                executor.update_parameters(tasks_per_node=gpus if cell.stage == "tune" else 1, gpus_per_node=gpus)
            jobs.append((cell, executor.submit(_run_cell_from_files, cell, config_path, str(run_dir))))
            log.info("submitted %s as job %s", cell.label, jobs[-1][1].job_id)
        for cell, job in jobs:
            try:
                job.result()
            except Exception as exc:  # the job's own traceback is in its log file
                raise RuntimeError(f"cell '{cell.label}' failed in job {job.job_id}; log: {job.paths.stderr}\n{exc}") from None
            bar.update(1)


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
        if cell.stage != "tune" and table.exists():
            parts["alignment" if cell.stage.startswith("align") else "probing"].append(pd.read_csv(table))
    return {name: write_table(pd.concat(frames, ignore_index=True), run_dir / "tables", name)
            for name, frames in parts.items() if frames}


def run_study(cfg: StudyConfig, executor: str | None = None) -> Path:
    """Run every cell of the study that is not already done, then tables and report.

    executor: "local" (this process), "local-processes" (each cell a subprocess through
    submitit's local executor) or "slurm"; default: the config's executor.name.
    """
    executor = executor or cfg.executor.name
    if executor not in ("local", "local-processes", "slurm"):
        raise ConfigError(f"executor: 'local', 'local-processes' or 'slurm', got {executor!r}")
    inputs = study_inputs(cfg)
    probes = cfg.probe if {"probe_pretrained", "probe_tuned"} & set(cfg.stages) else None
    require_study_data(inputs.dataset, inputs.splits, rois=bool({"align_pretrained", "align_tuned"} & set(cfg.stages)),
                       timit_root=cfg.data.timit if probes and probes.needs_timit else None,
                       timit_test_set=cfg.probe.timit_test_set,
                       speech_commands_root=cfg.data.speech_commands if probes and probes.needs_speech_commands else None)
    if inputs.splits:
        cfg = dataclasses.replace(cfg, split=cfg.split.resolved(inputs.splits))
    run_dir = prepare_run(cfg)
    _log_to_file(run_dir / "study.log")
    remove_stale_temporaries(run_dir)
    cells = plan_cells(cfg, inputs)
    todo = [c for c in cells if not is_done(c, run_dir)]
    log.info("study %s: %d cells, %d cached, %d to run (%s)", cfg.name, len(cells), len(cells) - len(todo), len(todo), executor)
    with tqdm(total=len(cells), desc=f"study {cfg.name}", unit="cell", initial=len(cells) - len(todo)) as bar:
        if executor == "local":
            for cell in todo:
                bar.set_postfix_str(cell.label)
                run_cell(cell, cfg, run_dir)
                bar.update(1)
        else:
            _run_remote(todo, cfg, run_dir, "local" if executor == "local-processes" else "slurm", bar)
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
