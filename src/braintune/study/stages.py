"""The stage table: what each kind of cell runs, which settings and files it reads.

Each stage declares its inputs once (``Stage``): the config sections whose result-changing
fields it uses, and the files it reads. A cell's cache key is derived from that declaration
(braintune.study.plan.cell_key), so it covers exactly what changes the cell's result.

Every runner takes (cell, config, run folder, cell folder) and leaves its outputs in the
cell folder; alignment and probing cells leave `table.csv` with a `variant` column
("pretrained" or "tuned") so that the study's tables can be concatenated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from braintune.io import write_atomic
from braintune.study.config import StudyConfig


@dataclass(frozen=True)
class Inputs:
    """What the stages of one study read: the fMRI folder, its resolved splits, the corpora."""

    dataset: object | None  # braintune.data.ds003020.Dataset
    splits: dict  # participant -> StorySplit

    def fmri_files(self, participant: str, stories: list[str], rois: bool) -> list[Path]:
        ds = self.dataset
        files = [ds.respdict_path, *(ds.response_path(participant, s) for s in stories),
                 *(ds.audio_path(s) for s in stories)]
        return files + [ds.roi_path(participant)] if rois else files


def _tune_reads(cell, cfg: StudyConfig, inputs: Inputs) -> list[Path]:
    split = inputs.splits[cell.participant]
    return inputs.fmri_files(cell.participant, [*split.train, split.validation, split.test], rois=False)


def _align_reads(cell, cfg: StudyConfig, inputs: Inputs) -> list[Path]:
    split = inputs.splits[cell.participant]
    return inputs.fmri_files(cell.participant, [*split.train, split.test], rois=True)


def _probe_reads(cell, cfg: StudyConfig, inputs: Inputs) -> list[Path]:
    roots = [cfg.data.timit] if cfg.probe.needs_timit else []
    roots += [cfg.data.speech_commands] if cfg.probe.needs_speech_commands else []
    return [p for root in roots for p in sorted(Path(root).rglob("*")) if p.is_file()]


def tuned_backbone(cell, run_dir: Path) -> Path:
    """The exported backbone of the tune cell that `cell` depends on."""
    (tune_cell,) = cell.depends_on
    return tune_cell.folder(run_dir) / "backbone"


def _dataset(cfg: StudyConfig):
    from braintune.data.ds003020 import Dataset

    return Dataset(cfg.data.fmri)


def _split(cfg: StudyConfig, participant: str):
    """The participant's split from the run's resolved config (its story lists are written out)."""
    from braintune.data.ds003020 import resolve_split

    return resolve_split(_dataset(cfg), cfg.participants, cfg.split)[participant]


def _write_table(table: pd.DataFrame, folder: Path) -> None:
    write_atomic(folder / "table.csv", table.to_csv(index=False))


def _record_model(folder: Path, model, variant: str) -> None:
    """folder/model.json: which weights the cell measured (braintune.models.model_identity), so
    that a tuned cell measuring the pretrained model is caught."""
    from braintune.models import load_encoder, model_identity

    record = {"variant": variant, "source": str(model), "identity": model_identity(load_encoder(model, device="cpu"))}
    write_atomic(folder / "model.json", json.dumps(record, indent=1))


def run_tune(cell, cfg: StudyConfig, run_dir: Path, folder: Path) -> None:
    """Brain-tune cell.model on cell.participant into folder/ (backbone/, head, log).

    With executor.gpus_per_job > 1 the cell trains with DDP, one process per GPU: a Slurm
    job was started with one task per GPU (WORLD_SIZE is set); elsewhere the run is written
    to folder/ddp_spec.json and started under torch.distributed.run (braintune.tuning.ddp).
    """
    import os

    settings = cfg.tune_settings()
    gpus = cfg.executor.gpus_per_job
    if gpus > 1 and "WORLD_SIZE" not in os.environ:
        from braintune.tuning.ddp import launch, write_spec

        spec = write_spec(folder / "ddp_spec.json", cfg.data.fmri, cell.participant, cell.model, folder, settings,
                          _split(cfg, cell.participant), resume=True)
        launch(spec, gpus)
        return
    from braintune.tuning import tune

    tune(_dataset(cfg), cell.participant, cell.model, folder, settings, split=_split(cfg, cell.participant), resume=True)


def _run_align(cell, cfg: StudyConfig, run_dir: Path, folder: Path, model, variant: str) -> None:
    from braintune.alignment import align_model

    table = align_model(
        _dataset(cfg), str(model), cell.participant, _split(cfg, cell.participant), run_dir / "cache" / "alignment",
        tag=cell.model, cache_dir=run_dir / "cache" / "features", scheme=cfg.features, settings=cfg.align,
        layers=cfg.layers, device=cfg.device,
    )
    table = table.rename(columns={"alignment_sem": "sem"})
    table.insert(1, "variant", variant)
    _record_model(folder, model, variant)
    _write_table(table, folder)


def run_align_pretrained(cell, cfg, run_dir, folder):
    _run_align(cell, cfg, run_dir, folder, cell.model, "pretrained")


def run_align_tuned(cell, cfg, run_dir, folder):
    _run_align(cell, cfg, run_dir, folder, tuned_backbone(cell, run_dir), "tuned")


def _run_probe(cell, cfg: StudyConfig, folder: Path, model, variant: str) -> None:
    from braintune.probing import run_probes

    table = run_probes(
        str(model), timit_root=cfg.data.timit, speech_commands_root=cfg.data.speech_commands,
        cache_dir=folder / "features", layers=cfg.layers, settings=cfg.probe, seed=cfg.seed, device=cfg.device,
    )
    table["model"] = cell.model
    table.insert(1, "variant", variant)
    table.insert(2, "participant", cell.participant or "")
    _record_model(folder, model, variant)
    _write_table(table, folder)


def run_probe_pretrained(cell, cfg, run_dir, folder):
    _run_probe(cell, cfg, folder, cell.model, "pretrained")


def run_probe_tuned(cell, cfg, run_dir, folder):
    _run_probe(cell, cfg, folder, tuned_backbone(cell, run_dir), "tuned")


@dataclass(frozen=True)
class Stage:
    """One kind of cell: its runner and the inputs its result depends on."""

    run: Callable
    sections: tuple[str, ...]  # config sections (owners) whose result-changing fields it uses
    reads: Callable  # (cell, config, Inputs) -> files it reads
    tuned: bool = False  # measures the model brain-tuned on the cell's participant
    per_participant: bool = True


STAGE_TABLE = {
    "tune": Stage(run_tune, ("tune", "split"), _tune_reads),
    "align_pretrained": Stage(run_align_pretrained, ("features", "align", "layers", "split"), _align_reads),
    "align_tuned": Stage(run_align_tuned, ("features", "align", "layers", "split"), _align_reads, tuned=True),
    "probe_pretrained": Stage(run_probe_pretrained, ("probe", "layers"), _probe_reads, per_participant=False),
    "probe_tuned": Stage(run_probe_tuned, ("probe", "layers"), _probe_reads, tuned=True),
}
RUNNERS = {name: stage.run for name, stage in STAGE_TABLE.items()}
