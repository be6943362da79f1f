"""What each kind of cell does: thin calls into the stage libraries.

Every runner takes (cell, config, run folder, cell folder) and leaves its outputs in the
cell folder; alignment and probing cells leave `table.csv` with a `variant` column
("pretrained" or "tuned") so that the study's tables can be concatenated.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from braintune.io import write_atomic
from braintune.study.config import StudyConfig

log = logging.getLogger(__name__)


def tuned_backbone(cell, run_dir: Path) -> Path:
    """The exported backbone of the tune cell that `cell` depends on."""
    (tune_cell,) = cell.depends_on
    return tune_cell.folder(run_dir) / "backbone"


def _layers(cfg: StudyConfig):
    return None if cfg.layers == "all" else list(cfg.layers)


def _dataset(cfg: StudyConfig):
    from braintune.data.ds003020 import Dataset

    return Dataset(cfg.data.fmri, test_story=cfg.data.test_story, validation_story=cfg.data.validation_story)


def _write_table(table: pd.DataFrame, folder: Path) -> None:
    write_atomic(folder / "table.csv", table.to_csv(index=False))


def run_tune(cell, cfg: StudyConfig, run_dir: Path, folder: Path) -> None:
    """Brain-tune cell.model on cell.participant into folder/ (backbone/, head, log).

    With executor.gpus_per_job > 1 the cell trains with DDP, one process per GPU: a Slurm
    job was started with one task per GPU (WORLD_SIZE is set); elsewhere the same tune
    command runs under torchrun.
    """
    settings = dataclasses.replace(cfg.tune, validation_story=cfg.data.validation_story, seed=cfg.seed,
                                   device=cfg.device)
    gpus = cfg.executor.gpus_per_job
    if gpus > 1 and "WORLD_SIZE" not in os.environ:
        settings_file = write_atomic(folder / "tune_settings.yaml", yaml.safe_dump(settings.to_dict()))
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={gpus}", "-m", "braintune", "tune",
               "--data", cfg.data.fmri, "--subject", cell.participant, "--model", cell.model, "--out", str(folder),
               "--config", str(settings_file), "--resume"]
        log.info("running %s", " ".join(cmd))
        subprocess.run(cmd, check=True)
        return
    from braintune.tuning import tune

    tune(_dataset(cfg), cell.participant, cell.model, folder, settings, resume=True)


def _run_align(cell, cfg: StudyConfig, run_dir: Path, folder: Path, model, variant: str) -> None:
    from braintune.features import Scheme
    from braintune.alignment.run import align_model

    f = cfg.features
    table = align_model(
        _dataset(cfg), str(model), cell.participant, folder / "voxels", tag=cell.model,
        cache_dir=run_dir / "cache" / "features",
        scheme=Scheme(name=f.scheme, step=f.step_seconds, context=f.context_seconds, chunk=f.chunk_seconds),
        dtype=f.dtype, delays=f.delays, layers=_layers(cfg), alphas=cfg.align.alphas,
        threshold=cfg.align.ceiling_threshold, n_folds=cfg.align.n_folds, device=cfg.device,
    )
    table = table.rename(columns={"alignment_sem": "sem"})
    table.insert(1, "variant", variant)
    _write_table(table, folder)


def run_align_pretrained(cell, cfg, run_dir, folder):
    _run_align(cell, cfg, run_dir, folder, cell.model, "pretrained")


def run_align_tuned(cell, cfg, run_dir, folder):
    _run_align(cell, cfg, run_dir, folder, tuned_backbone(cell, run_dir), "tuned")


def _run_probe(cell, cfg: StudyConfig, folder: Path, model, variant: str) -> None:
    from braintune.probing import run_probes

    table = run_probes(
        str(model), tasks=cfg.probe.tasks, timit_root=cfg.data.timit, speech_commands_root=cfg.data.speech_commands,
        cache_dir=folder / "features", layers=_layers(cfg), seed=cfg.seed, device=cfg.device,
    )
    table["model"] = cell.model
    table.insert(1, "variant", variant)
    table.insert(2, "participant", cell.participant or "")
    _write_table(table, folder)


def run_probe_pretrained(cell, cfg, run_dir, folder):
    _run_probe(cell, cfg, folder, cell.model, "pretrained")


def run_probe_tuned(cell, cfg, run_dir, folder):
    _run_probe(cell, cfg, folder, tuned_backbone(cell, run_dir), "tuned")


RUNNERS = {
    "tune": run_tune,
    "align_pretrained": run_align_pretrained,
    "align_tuned": run_align_tuned,
    "probe_pretrained": run_probe_pretrained,
    "probe_tuned": run_probe_tuned,
}
