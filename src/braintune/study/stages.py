"""The stage table: what each kind of cell runs, which settings and files it reads.

Each stage declares its inputs once (``Stage``): the config sections whose result-changing
fields it uses, the files it reads, the tune stage whose model it measures, and the tuning
settings a tune stage fixes. A cell's cache key and dependencies are derived from that
declaration (braintune.study.plan), so the key covers exactly what changes the cell's result.

Three variants of each model are measured: "pretrained" (the model as given), "tuned"
(brain-tuned on the participant, stage `tune`) and "control" (stage `tune_control`: tuned
the same way on the same participant's responses with the window->response pairing
shuffled, braintune.tuning.data.shuffled_pairing; Moussa et al., ICLR 2025). The control
separates the effect of the brain data from that of fine-tuning itself.

Every runner takes (cell, config, run folder, cell folder) and leaves its outputs in the
cell folder; alignment and probing cells leave `table.csv` with a `variant` column so that
the study's tables can be concatenated.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from braintune.io import write_atomic

if TYPE_CHECKING:  # config.py derives the stage names from this table
    import pandas as pd

    from braintune.study.config import StudyConfig
    from braintune.tuning.settings import TuneSettings


@dataclass(frozen=True)
class Inputs:
    """What the stages of one study read: the fMRI dataset and the resolved splits of its
    participants and of those who tune (braintune.data.fmri)."""

    dataset: object | None  # braintune.data.fmri.FMRIDataset
    splits: dict  # participant -> StorySplit


def tuned_on(cell, cfg: StudyConfig) -> list[str]:
    """Who a tune cell tunes on: its participant, or all tuning participants (cfg.tuning_participants)."""
    return [cell.participant] if cell.participant is not None else cfg.tuning_participants


def _tune_reads(cell, cfg: StudyConfig, inputs: Inputs) -> list[Path]:
    files = []
    common = tune_settings(cell.stage, cfg).head == "common"
    for participant in tuned_on(cell, cfg):
        split = inputs.splits[participant].first(cell.k)
        files += inputs.dataset.key_files(participant, [*split.train, split.validation, split.test])
        files += _space_files(cfg, inputs, participant) if common else []
    return list(dict.fromkeys(files))


def _space_files(cfg: StudyConfig, inputs: Inputs, participant: str) -> list[Path]:
    """The common space's files a participant's values are brought through: the atlas, its affine, its mask."""
    from braintune.data.fsaverage import affine_path, atlas_files

    cortex = inputs.dataset.cortex(participant)
    return [*atlas_files(cfg.align.atlas), affine_path(cfg.align.affines, participant),
            cortex.subject / "transforms" / cortex.transform / "mask_thick.nii.gz"]


def _align_reads(cell, cfg: StudyConfig, inputs: Inputs) -> list[Path]:
    split = inputs.splits[cell.participant].first(cell.k)
    files = inputs.dataset.key_files(cell.participant, [*split.train, split.test], rois=True)
    if cfg.align.rules.rois.through_fsaverage(cfg.align):  # the authors' ROI values: the atlas, the affine, the mask
        files += _space_files(cfg, inputs, cell.participant)
    return files


def _probe_reads(cell, cfg: StudyConfig, inputs: Inputs) -> list[Path]:
    roots = [cfg.data.corpus(name) for name in cfg.probe.corpora]
    return [p for root in roots for p in sorted(Path(root).rglob("*")) if p.is_file()]


def tuned_backbone(cell, run_dir: Path) -> Path:
    """The exported backbone of the tune cell that `cell` depends on."""
    (tune_cell,) = cell.depends_on
    return tune_cell.folder(run_dir) / "backbone"


def _splits(cfg: StudyConfig, dataset) -> dict:
    """participant -> split, from the run's resolved config (its story lists are written out)."""
    from braintune.data.fmri import resolve_split

    return resolve_split(dataset, cfg.split_group, cfg.split)


def _write_table(table: pd.DataFrame, folder: Path) -> None:
    write_atomic(folder / "table.csv", table.to_csv(index=False))


def _record_model(folder: Path, model, variant: str) -> None:
    """folder/model.json: which weights the cell measured (braintune.models.model_identity), so
    that a tuned cell measuring the pretrained model is caught."""
    from braintune.models import load_encoder, model_identity

    record = {"variant": variant, "source": str(model), "identity": model_identity(load_encoder(model, device="cpu"))}
    write_atomic(folder / "model.json", json.dumps(record, indent=1))


def tune_settings(stage: str, cfg: StudyConfig) -> TuneSettings:
    """The TuneSettings of the cells of tune stage `stage`: the study's (cfg.tune_settings())
    with the fields the stage fixes (the control's shuffled pairing)."""
    return dataclasses.replace(cfg.tune_settings(), **dict(STAGE_TABLE[stage].fixes))


def run_tune(cell, cfg: StudyConfig, run_dir: Path, folder: Path) -> None:
    """Brain-tune cell.model on cell.participant (or, for a variant that tunes one model for all, on
    the tuning participants) into folder/ (backbone/, head, log), with the settings of the cell's
    tune stage (tune_settings).

    With executor.gpus_per_job > 1 the cell trains with DDP, one process per GPU: a Slurm
    job was started with one task per GPU (WORLD_SIZE is set); elsewhere the run is written
    to folder/ddp_spec.json and started under torch.distributed.run (braintune.tuning.ddp).
    """
    import os

    settings = tune_settings(cell.stage, cfg)
    dataset = cfg.data.open_fmri()
    participants = tuned_on(cell, cfg)
    splits = {p: split.first(cell.k) for p, split in _splits(cfg, dataset).items() if p in participants}
    gpus = cfg.executor.gpus_per_job
    if gpus > 1 and "WORLD_SIZE" not in os.environ:
        from braintune.tuning.ddp import launch, write_spec

        spec = write_spec(folder / "ddp_spec.json", cfg.data.fmri, participants, cell.model, folder, settings, splits,
                          resume=True, layout=cfg.data.layout, space=common_space(cfg))
        launch(spec, gpus)
        return
    from braintune.tuning import tune

    tune(dataset, participants, cell.model, folder, settings, split=splits, resume=True, space=common_space(cfg))


def common_space(cfg: StudyConfig):
    """The study's common space (align.atlas, align.affines), or None where not set."""
    from braintune.data.fsaverage import CommonSpace

    return CommonSpace(cfg.align.atlas, cfg.align.affines) if cfg.align.atlas else None


def measured(cell, run_dir: Path) -> tuple[str | Path, str]:
    """(model, variant) that an align or probe cell measures: the pretrained model, or the
    backbone exported by the tune cell it depends on."""
    tuned_by = STAGE_TABLE[cell.stage].tuned_by
    if tuned_by is None:
        return cell.model, "pretrained"
    return tuned_backbone(cell, run_dir), STAGE_TABLE[tuned_by].variant


def run_align(cell, cfg: StudyConfig, run_dir: Path, folder: Path) -> None:
    """Layer-wise alignment of the model the cell measures with cell.participant's voxels, by ROI."""
    from braintune.alignment import align_model

    model, variant = measured(cell, run_dir)
    # per variant (and number of training stories): fits of one do not displace another's
    voxels = run_dir / "cache" / "alignment" / variant / (f"k{cell.k}" if cell.k else "")
    dataset = cfg.data.open_fmri()
    split = _splits(cfg, dataset)[cell.participant].first(cell.k)
    table = align_model(
        dataset, str(model), cell.participant, split, voxels,
        tag=cell.model, cache_dir=run_dir / "cache" / "features", scheme=cfg.features, settings=cfg.align,
        layers=cfg.layers, device=cfg.device,
    )
    table = table.rename(columns={"alignment_sem": "sem"})
    table.insert(1, "variant", variant)
    table["n_train_stories"] = len(split.train)
    _record_model(folder, model, variant)
    _write_table(table, folder)


def run_probe(cell, cfg: StudyConfig, run_dir: Path, folder: Path) -> None:
    """The probe tasks on every layer of the model the cell measures."""
    from braintune.probing import run_probes

    model, variant = measured(cell, run_dir)
    table = run_probes(
        str(model), timit_root=cfg.data.timit, speech_commands_root=cfg.data.speech_commands,
        cache_dir=folder / "features", layers=cfg.layers, settings=cfg.probe, seed=cfg.seed, device=cfg.device,
    )
    table["model"] = cell.model
    table.insert(1, "variant", variant)
    table.insert(2, "participant", cell.participant or "")
    _record_model(folder, model, variant)
    _write_table(table, folder)


@dataclass(frozen=True)
class Stage:
    """One kind of cell: what it runs and the inputs its result depends on."""

    kind: str  # "tune", "align" or "probe": what its cells run (RUNNERS)
    sections: tuple[str, ...]  # config sections (owners) whose result-changing fields it uses
    reads: Callable  # (cell, config, Inputs) -> files it reads
    tuned_by: str | None = None  # align / probe: the tune stage whose model it measures (None: the pretrained)
    variant: str | None = None  # tune: the variant its model is in the tables ("tuned", "control")
    fixes: tuple[tuple[str, object], ...] = ()  # tune: (TuneSettings field, value) pairs the stage sets
    per_participant: bool = True
    default: bool = True  # among a study's stages when its config lists none

    @property
    def outputs(self) -> tuple[str, ...]:
        """What its cells leave in their folder for the rest of the study (files, or folders of
        files): the tuned backbone later stages measure, or the table the study collects."""
        return ("backbone",) if self.kind == "tune" else ("table.csv",)


_ALIGN = ("features", "align", "layers", "split")
_PROBE = ("probe", "layers")
STAGE_TABLE = {
    "tune": Stage("tune", ("tune", "split"), _tune_reads, variant="tuned"),
    "tune_control": Stage("tune", ("tune", "split"), _tune_reads, variant="control", fixes=(("shuffle_pairs", True),),
                          default=False),
    "align_pretrained": Stage("align", _ALIGN, _align_reads),
    "align_tuned": Stage("align", _ALIGN, _align_reads, tuned_by="tune"),
    "align_control": Stage("align", _ALIGN, _align_reads, tuned_by="tune_control", default=False),
    "probe_pretrained": Stage("probe", _PROBE, _probe_reads, per_participant=False),
    "probe_tuned": Stage("probe", _PROBE, _probe_reads, tuned_by="tune"),
    "probe_control": Stage("probe", _PROBE, _probe_reads, tuned_by="tune_control", default=False),
    # one model tuned on all tuning participants at once (tune.participants; Moussa & Toneva, NeurIPS 2025)
    "tune_multi": Stage("tune", ("tune", "split", "space"), _tune_reads, variant="multi-tuned", fixes=(("variant", "multi"),),
                        default=False),
    "align_multi": Stage("align", _ALIGN, _align_reads, tuned_by="tune_multi", default=False),
    "probe_multi": Stage("probe", _PROBE, _probe_reads, tuned_by="tune_multi", default=False),
}
RUNNERS = {name: {"tune": run_tune, "align": run_align, "probe": run_probe}[stage.kind]
           for name, stage in STAGE_TABLE.items()}
