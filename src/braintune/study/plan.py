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
    """One unit of work: `stage` for `model` (and `participant`, except probe_pretrained and the
    tune cell of a variant that tunes one model for many); k: the participant's first k training
    stories (split.n_train_stories; None: all); depends_on: the tune cell whose model it measures."""

    stage: str
    model: str
    participant: str | None
    key: str = field(compare=False, default="")
    depends_on: tuple["Cell", ...] = field(compare=False, default=())
    k: int | None = None

    @property
    def label(self) -> str:
        return (f"{self.stage} {self.model}" + (f" {self.participant}" if self.participant else "")
                + (f" ({self.k} stories)" if self.k else ""))

    def folder(self, run_dir: Path) -> Path:
        """RUN/cells/<stage>/<model tag>/<participant or 'all'>[-k<k>]-<key[:10]>"""
        name = f"{self.participant or 'all'}" + (f"-k{self.k}" if self.k else "") + f"-{self.key[:10]}"
        return Path(run_dir) / "cells" / self.stage / model_tag(self.model) / name


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
        return inputs.splits[cell.participant].first(cell.k).to_dict()
    if name == "tune":
        return result_settings(tune_settings(cell.stage, cfg))
    if name == "features":
        return cfg.features.settings()
    if name == "space":  # the common space of a shared head (tune.head: common)
        common = tune_settings(cell.stage, cfg).head == "common"
        return {"atlas": cfg.align.atlas, "affines": cfg.align.affines} if common else {}
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
        **({"k": cell.k} if cell.k else {}),
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

    def make(stage: str, model: str, participant: str | None, deps=(), k: int | None = None) -> Cell:
        cell = Cell(stage, model, participant, depends_on=tuple(deps), k=k)
        return Cell(stage, model, participant, cell_key(cell, cfg, inputs), tuple(deps), k)

    stages = _stages(cfg)
    sizes = cfg.split.sizes
    tuned = {}
    for stage in (s for s in stages if STAGE_TABLE[s].kind == "tune"):
        for model in cfg.models:
            if tunes_each(stage, cfg):  # one model per participant (and number of training stories)
                tuned.update({(stage, model, p, k): make(stage, model, p, k=k) for p in cfg.participants for k in sizes})
            else:  # one model for all who tune, on all their stories
                tuned[stage, model, None, None] = make(stage, model, None)
    cells: list[Cell] = list(tuned.values())
    for model in cfg.models:
        for stage in stages:
            spec = STAGE_TABLE[stage]
            if spec.kind == "tune":
                continue
            if not spec.per_participant:
                cells.append(make(stage, model, None))
                continue
            for participant in cfg.participants:
                for k in sizes:
                    own = spec.tuned_by and tunes_each(spec.tuned_by, cfg)
                    deps = (tuned[spec.tuned_by, model, *((participant, k) if own else (None, None))],) \
                        if spec.tuned_by else ()
                    cells.append(make(stage, model, participant, deps, k))
    return cells


def tunes_each(stage: str, cfg: StudyConfig) -> bool:
    """Whether tune stage `stage` tunes one model per participant (its variant's, braintune.tuning.variants)."""
    return per_participant(tune_settings(stage, cfg).variant)


def waves(cells: list[Cell]) -> list[list[Cell]]:
    """Group cells into waves whose members depend only on earlier waves."""
    level: dict[Cell, int] = {}
    for cell in cells:  # cells come in dependency order
        level[cell] = 1 + max((level[d] for d in cell.depends_on), default=-1)
    out: list[list[Cell]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for cell in cells:
        out[level[cell]].append(cell)
    return out
