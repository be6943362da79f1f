"""The grid of a study: cells (stage × model × participant), their dependencies and cache keys.

A cell's key is a hash of everything its output depends on: the stage, the model, the
participant, the settings sections the stage reads, the data folders, and the keys of
the cells it consumes (so retuning a model invalidates what was measured on it). A cell's
folder carries the key's first characters, so a changed setting never resumes into the
folder of another setting.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from braintune.models import model_tag
from braintune.study.config import StudyConfig

# Which config sections and data folders each stage's output depends on.
_STAGE_INPUTS = {
    "tune": ("tune", "fmri"),
    "align_pretrained": ("features", "align", "layers", "fmri"),
    "align_tuned": ("features", "align", "layers", "fmri"),
    "probe_pretrained": ("probe", "layers", "corpora"),
    "probe_tuned": ("probe", "layers", "corpora"),
}
NEEDS_TUNED = {"align_tuned", "probe_tuned"}


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


def _inputs(cfg: StudyConfig, stage: str) -> dict:
    chosen = {}
    for name in _STAGE_INPUTS[stage]:
        if name == "fmri":
            chosen["fmri"] = [cfg.data.fmri, cfg.data.test_story, cfg.data.validation_story]
        elif name == "corpora":
            chosen["corpora"] = [cfg.data.timit, cfg.data.speech_commands]
        elif name == "layers":
            chosen["layers"] = cfg.layers
        else:
            chosen[name] = asdict(getattr(cfg, name))
    return chosen


def cell_key(stage: str, model: str, participant: str | None, cfg: StudyConfig, deps: tuple[Cell, ...]) -> str:
    """sha256 over the stage's inputs (see module docstring)."""
    payload = {
        "stage": stage, "model": model, "participant": participant, "seed": cfg.seed,
        "inputs": _inputs(cfg, stage), "deps": sorted(d.key for d in deps),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _cell(stage, model, participant, cfg, deps=()) -> Cell:
    return Cell(stage, model, participant, cell_key(stage, model, participant, cfg, deps), tuple(deps))


def plan_cells(cfg: StudyConfig) -> list[Cell]:
    """All cells of the study in dependency order (tune cells first).

    A stage that measures a tuned model pulls in the tune cell even when `tune` is not
    among the stages: it is then reused from the run folder's cache (or run if missing).
    """
    stages = set(cfg.stages)
    cells: list[Cell] = []
    tuned: dict[tuple[str, str], Cell] = {}
    for model in cfg.models:
        for participant in cfg.participants:
            if "tune" in stages or stages & NEEDS_TUNED:
                tuned[model, participant] = _cell("tune", model, participant, cfg)
                cells.append(tuned[model, participant])
    for model in cfg.models:
        if "probe_pretrained" in stages:
            cells.append(_cell("probe_pretrained", model, None, cfg))
        for participant in cfg.participants:
            if "align_pretrained" in stages:
                cells.append(_cell("align_pretrained", model, participant, cfg))
            for stage in ("align_tuned", "probe_tuned"):
                if stage in stages:
                    cells.append(_cell(stage, model, participant, cfg, (tuned[model, participant],)))
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
