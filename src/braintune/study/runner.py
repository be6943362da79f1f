"""Run a study: every cell in dependency order, each cached, then the tables and the report.

Run folder layout::

    RUN/config.yaml                 the resolved config (each participant's training stories written out)
    RUN/cells/<stage>/<model>/<participant>-<key>/   one folder per cell; done.json marks it finished
                                    (its key, and the size and hash of each output file: a rerun
                                    recomputes a cell whose outputs were truncated or edited)
    RUN/cache/features/             hidden-state caches shared by the cells
    RUN/tables/alignment.csv|parquet, RUN/tables/probing.csv|parquet
    RUN/figures/, RUN/report.html   (braintune.report)
    RUN/study.log
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path

import pandas as pd

from braintune.data.check import require_study_data
from braintune.errors import ConfigError
from braintune.io import remove_stale_temporaries, write_atomic, write_table
from braintune.progress import tqdm
from braintune.study.config import StudyConfig, dump_config
from braintune.study.executors import make_executor
from braintune.study.plan import Cell, plan_cells, study_inputs
from braintune.study.stages import RUNNERS, STAGE_TABLE

log = logging.getLogger(__name__)

DONE = "done.json"


HASHED_BYTES = 64 * 2**20  # outputs up to this size are hashed (tables, records); larger (weights): their size


def output_record(cell: Cell, folder: Path) -> dict[str, dict]:
    """Every file of the cell's outputs (STAGE_TABLE[stage].outputs; a folder: the files
    under it) -> {"bytes": size, "sha256": hex digest, for files up to HASHED_BYTES}.
    A missing output is an error: the stage did not finish."""
    files = []
    for name in STAGE_TABLE[cell.stage].outputs:
        path = folder / name
        if not path.exists():
            raise RuntimeError(f"{path}: the {cell.stage} stage finished without writing it")
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(f.relative_to(folder)): _file_record(f, hashed=f.stat().st_size <= HASHED_BYTES) for f in files}


def _file_record(path: Path, hashed: bool) -> dict:
    record = {"bytes": path.stat().st_size}
    if hashed:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(2**20), b""):
                digest.update(block)
        record["sha256"] = digest.hexdigest()
    return record


def not_done_reason(cell: Cell, run_dir: Path) -> str | None:
    """None if the cell finished under its key and its outputs are as it left them (done.json
    records them: output_record); else why it must run."""
    folder = cell.folder(run_dir)
    try:
        marker = json.loads((folder / DONE).read_text())
    except FileNotFoundError:
        return "not run"
    except (OSError, ValueError) as exc:
        return f"{folder / DONE}: unreadable ({exc})"
    if not isinstance(marker, dict) or marker.get("key") != cell.key:
        return "other inputs or settings"
    recorded = marker.get("outputs")
    if not isinstance(recorded, dict):
        return f"{folder / DONE}: records no outputs (written by an older braintune)"
    for name, was in recorded.items():
        path = folder / name
        if not path.is_file():
            return f"{path}: missing"
        now = _file_record(path, hashed="sha256" in was) if path.stat().st_size == was.get("bytes") else None
        if now != was:
            return f"{path}: changed since the cell finished (truncated or edited)"
    return None


def is_done(cell: Cell, run_dir: Path) -> bool:
    """Whether the cell finished under its key with its outputs intact (not_done_reason)."""
    return not_done_reason(cell, run_dir) is None


def run_cell(cell: Cell, cfg: StudyConfig, run_dir: Path) -> Path:
    """Run one cell unless it is already done; return its folder. Safe to call in a subprocess."""
    folder = cell.folder(run_dir)
    if is_done(cell, run_dir):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in STAGE_TABLE[cell.stage].outputs:  # written anew: a damaged backbone would pass for a finished tuning
        path = folder / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    started = time.time()
    RUNNERS[cell.stage](cell, cfg, Path(run_dir), folder)
    summary = {"key": cell.key, "stage": cell.stage, "model": cell.model, "participant": cell.participant,
               "seconds": round(time.time() - started, 1), "finished": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "host": socket.gethostname(), "pid": os.getpid(), "outputs": output_record(cell, folder)}
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
        if kind != "tune":
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
    require_models(cfg)
    inputs = study_inputs(cfg)
    kinds = {STAGE_TABLE[s].kind for s in cfg.stages if s in STAGE_TABLE}
    corpora = {name: cfg.data.corpus(name) for name in cfg.probe.corpora} if "probe" in kinds else {}
    require_study_data(inputs.dataset, inputs.splits, rois="align" in kinds, corpora=corpora,
                       corpus_options={"timit": {"test_set": cfg.probe.timit_test_set}})
    if "align" in kinds:
        for k in cfg.split.sizes:
            cfg.align.check_split({p: inputs.splits[p].first(k) for p in cfg.participants},
                                  lambda story: len(inputs.dataset.row_times(story)))
    if inputs.splits:
        cfg = dataclasses.replace(cfg, split=cfg.split.resolved(inputs.splits))
    cell_executor = make_executor(name, cfg)
    run_dir = prepare_run(cfg)
    _log_to_file(run_dir / "study.log")
    remove_stale_temporaries(run_dir)
    cells = plan_cells(cfg, inputs)
    todo = []
    for cell in cells:
        reason = not_done_reason(cell, run_dir)
        if reason is not None:
            todo.append(cell)
        if reason not in (None, "not run", "other inputs or settings"):
            log.warning("%s: %s; running it again", cell.label, reason)
    log.info("study %s: %d cells, %d cached, %d to run (%s)", cfg.name, len(cells), len(cells) - len(todo), len(todo), name)
    with tqdm(total=len(cells), desc=f"study {cfg.name}", unit="cell", initial=len(cells) - len(todo)) as bar:
        cell_executor.run(todo, run_dir, bar)
    tables = collect_tables(cfg, run_dir, cells)
    if "report" in cfg.stages and tables:
        from braintune.report import build_report

        report = build_report(run_dir, roi_values=cfg.align.roi_values())
        log.info("report: %s", report)
    return run_dir


def require_models(cfg: StudyConfig) -> None:
    """Every model of the study resolves (a local folder or the local Hugging Face cache) before the
    first cell runs, and none is of a family the study's LoRA tuning cannot adapt: one line otherwise."""
    from braintune.models import model_config_json
    from braintune.study.stages import tune_settings
    from braintune.tuning.settings import LORA_REFUSED

    tunes = {s for s in cfg.stages if s in STAGE_TABLE and STAGE_TABLE[s].kind == "tune"}
    tunes |= {STAGE_TABLE[s].tuned_by for s in cfg.stages if s in STAGE_TABLE} - {None}
    lora = any(tune_settings(s, cfg).adapter == "lora" for s in tunes)
    for model in cfg.models:
        family = model_config_json(model).get("model_type")
        if lora and family in LORA_REFUSED:
            raise ConfigError(f"tune.adapter: lora cannot tune {model} ({family}): {LORA_REFUSED[family]}")


def _log_to_file(path: Path) -> None:
    root = logging.getLogger("braintune")
    if not any(isinstance(h, logging.FileHandler) and h.baseFilename == str(path) for h in root.handlers):
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(min(root.level or logging.INFO, logging.INFO))
