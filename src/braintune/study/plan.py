"""The grid of a study: cells (stage × model × participant), their dependencies and cache keys.

A cell's key is derived from its stage's declaration (braintune.study.stages.STAGE_TABLE):
a hash of the stage, the model (and its files), the participant, the result-changing
fields of the config sections the stage reads, the participant's resolved story split,
the fingerprints of the files it reads (braintune.fingerprint), and the keys of the cells
it consumes (so retuning a model invalidates what was measured on it). A tune stage's
`tune` section holds the settings it fixes (the control's shuffled pairing), so they reach
only its own cells and the cells that measure its models. Settings that do
not change results (batch sizes, caches, devices, executors) are left out. A cell's folder
carries the key's first characters, so a changed input never resumes into the folder of
another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from braintune.fingerprint import files_fingerprint
from braintune.models import model_fingerprint, model_tag
from braintune.settings import result_settings
from braintune.study.config import StudyConfig
from braintune.study.stages import STAGE_TABLE, Inputs, tune_settings, tuned_on
from braintune.tuning.variants import per_participant


@dataclass(frozen=True)
class Cell:
    """One unit of work: `stage` for `model` (and `participant`, except probe_pretrained);
    depends_on: the tune cell whose model it measures, if any."""

    stage: str
    model: str
    participant: str | None
    key: str = field(compare=False, default="")
    depends_on: tuple["Cell", ...] = field(compare=False, default=())

    @property
    def label(self) -> str:
        return f"{self.stage} {self.model}" + (f" {self.participant}" if self.participant else "")

    def folder(self, run_dir: Path) -> Path:
        """RUN/cells/<stage>/<model tag>/<participant or 'all'>-<key[:10]>"""
        return Path(run_dir) / "cells" / self.stage / model_tag(self.model) / f"{self.participant or 'all'}-{self.key[:10]}"


def study_inputs(cfg: StudyConfig) -> Inputs:
    """The fMRI dataset and the resolved story split of each participant and of each who tunes
    (None without fMRI stages)."""
    from braintune.data.fmri import resolve_split

    if not cfg.data.fmri or not cfg.participants or not any(STAGE_TABLE[s].per_participant for s in _stages(cfg)):
        return Inputs(dataset=None, splits={})
    dataset = cfg.data.open_fmri()
    return Inputs(dataset=dataset, splits=resolve_split(dataset, cfg.split_group, cfg.split))


def _section(cfg: StudyConfig, name: str, cell: Cell, inputs: Inputs):
    if name == "layers":
        return cfg.layers
    if name == "split":
        if cell.participant is None:  # a tune cell of all tuning participants
            return {p: inputs.splits[p].to_dict() for p in tuned_on(cell, cfg)}
        return inputs.splits[cell.participant].to_dict()
    if name == "tune":
        return result_settings(tune_settings(cell.stage, cfg))
    if name == "features":
        return cfg.features.settings()
    return result_settings(getattr(cfg, name))


def cell_key(cell: Cell, cfg: StudyConfig, inputs: Inputs) -> str:
    """sha256 over the stage's declared inputs (see module docstring)."""
    stage = STAGE_TABLE[cell.stage]
    root = inputs.dataset.root if inputs.dataset is not None and stage.per_participant else None
    payload = {
        "stage": cell.stage, "model": cell.model, "model_files": model_fingerprint(cell.model),
        "participant": cell.participant, "seed": cfg.seed,
        "settings": {name: _section(cfg, name, cell, inputs) for name in stage.sections},
        "files": files_fingerprint(stage.reads(cell, cfg, inputs), root),
        "deps": sorted(d.key for d in cell.depends_on),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _stages(cfg: StudyConfig) -> list[str]:
    """The cell stages to plan: the configured ones, plus the tune stages whose models they measure."""
    chosen = [s for s in cfg.stages if s in STAGE_TABLE]
    needed = {STAGE_TABLE[s].tuned_by for s in chosen} - {None}
    return [s for s in STAGE_TABLE if s in needed and s not in chosen] + chosen


def plan_cells(cfg: StudyConfig, inputs: Inputs | None = None) -> list[Cell]:
    """All cells of the study in dependency order (tune cells first).

    A stage that measures a tuned model pulls in its tune stage (Stage.tuned_by) even when
    that is not among the stages: its cells are then reused from the run folder's cache (or
    run if missing).
    """
    inputs = study_inputs(cfg) if inputs is None else inputs

    def make(stage: str, model: str, participant: str | None, deps=()) -> Cell:
        cell = Cell(stage, model, participant, depends_on=tuple(deps))
        return Cell(stage, model, participant, cell_key(cell, cfg, inputs), tuple(deps))

    stages = _stages(cfg)
    tunes = [s for s in stages if STAGE_TABLE[s].kind == "tune"]
    # a variant that tunes one model per participant: a tune cell each; else one for all who tune
    tuning = cfg.tuning_participants if per_participant(cfg.tune.variant) else [None]
    tuned = {(stage, model, participant): make(stage, model, participant)
             for stage in tunes for model in cfg.models for participant in tuning}
    cells: list[Cell] = list(tuned.values())
    for model in cfg.models:
        for stage in stages:
            spec = STAGE_TABLE[stage]
            if stage in tunes:
                continue
            if not spec.per_participant:
                cells.append(make(stage, model, None))
                continue
            for participant in cfg.participants:
                tuned_model = participant if per_participant(cfg.tune.variant) else None
                deps = (tuned[spec.tuned_by, model, tuned_model],) if spec.tuned_by else ()
                cells.append(make(stage, model, participant, deps))
    return cells


def waves(cells: list[Cell]) -> list[list[Cell]]:
    """Group cells into waves whose members depend only on earlier waves."""
    level: dict[Cell, int] = {}
    for cell in cells:  # cells come in dependency order
        level[cell] = 1 + max((level[d] for d in cell.depends_on), default=-1)
    out: list[list[Cell]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for cell in cells:
        out[level[cell]].append(cell)
    return out
