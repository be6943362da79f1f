"""The grid of a study: cells (stage × model × participant), their dependencies and cache keys.

A cell's key is derived from its stage's declaration (braintune.study.stages.STAGE_TABLE):
a hash of the stage, the model (and its files), the participant, the result-changing
fields of the config sections the stage reads, the participant's resolved story split,
the fingerprints of the files it reads (braintune.fingerprint), and the keys of the cells
it consumes (so retuning a model invalidates what was measured on it). Settings that do
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
from braintune.study.stages import STAGE_TABLE, Inputs


@dataclass(frozen=True)
class Cell:
    """One unit of work: `stage` for `model` (and `participant`, except probe_pretrained)."""

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
    """The fMRI folder and each participant's resolved story split (None without fMRI stages)."""
    from braintune.data.ds003020 import Dataset, resolve_split

    if not cfg.data.fmri or not cfg.participants or not any(STAGE_TABLE[s].per_participant for s in _stages(cfg)):
        return Inputs(dataset=None, splits={})
    dataset = Dataset(cfg.data.fmri)
    return Inputs(dataset=dataset, splits=resolve_split(dataset, cfg.participants, cfg.split))


def _section(cfg: StudyConfig, name: str, cell: Cell, inputs: Inputs):
    if name == "layers":
        return cfg.layers
    if name == "split":
        return inputs.splits[cell.participant].to_dict()
    if name == "tune":
        return result_settings(cfg.tune_settings())
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
    """The cell stages to plan: the configured ones, plus tune where a tuned model is measured."""
    chosen = [s for s in cfg.stages if s in STAGE_TABLE]
    if any(STAGE_TABLE[s].tuned for s in chosen) and "tune" not in chosen:
        chosen.insert(0, "tune")
    return chosen


def plan_cells(cfg: StudyConfig, inputs: Inputs | None = None) -> list[Cell]:
    """All cells of the study in dependency order (tune cells first).

    A stage that measures a tuned model pulls in the tune cell even when `tune` is not
    among the stages: it is then reused from the run folder's cache (or run if missing).
    """
    inputs = study_inputs(cfg) if inputs is None else inputs

    def make(stage: str, model: str, participant: str | None, deps=()) -> Cell:
        cell = Cell(stage, model, participant, depends_on=tuple(deps))
        return Cell(stage, model, participant, cell_key(cell, cfg, inputs), tuple(deps))

    stages = _stages(cfg)
    cells: list[Cell] = []
    tuned: dict[tuple[str, str], Cell] = {}
    for model in cfg.models:
        for participant in cfg.participants if "tune" in stages else []:
            tuned[model, participant] = make("tune", model, participant)
            cells.append(tuned[model, participant])
    for model in cfg.models:
        for stage in stages:
            spec = STAGE_TABLE[stage]
            if stage == "tune":
                continue
            if not spec.per_participant:
                cells.append(make(stage, model, None))
                continue
            for participant in cfg.participants:
                cells.append(make(stage, model, participant, (tuned[model, participant],) if spec.tuned else ()))
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
