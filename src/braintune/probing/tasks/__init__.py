"""The probing tasks, one module per task; a module registers its task when imported.

A task names its corpus (braintune.probing.corpora.CORPORA), builds its rows on that
corpus (`rows(corpus, settings, seed) -> TaskRows`: which frames of which items, mean-pooled,
their labels and split) and names its probe (braintune.probing.probes.PROBES: "ridge",
"classifier", "multilabel"), or gives its own function (features, labels, split, seed) ->
ProbeResult. To add a task, add a module here
that calls `register(Task(...))`: every module of this package is imported, so its name
becomes a choice of ProbeSettings.tasks, `braintune probe --tasks` and the study's `probe:`.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

import numpy as np

from braintune.probing.corpora import Split


@dataclass
class TaskRows:
    """A task's rows on its corpus.

    spans: (rows, 3) int64 [item, first frame, end frame): each row is the mean of those
    frames of a layer (one frame: end = first + 1). labels: (rows, ...) what the probe
    predicts. split: fit / validation / test rows (each row takes its item's role).
    """

    spans: np.ndarray
    labels: np.ndarray
    split: Split


@dataclass(frozen=True)
class Task:
    """A probing task: its name (a key of `tasks:`), corpus, rows and probe, and one line of help."""

    name: str
    corpus: str
    rows: Callable  # (Corpus, ProbeSettings, seed) -> TaskRows
    probe: str | Callable  # a name in probes.PROBES, or (features (rows, dims), labels, Split, seed) -> ProbeResult
    help: str


def item_rows(corpus, labels: np.ndarray) -> TaskRows:
    """One row per item of the corpus (the mean of all its frames), with the given labels (items, ...)."""
    spans = np.array([(i, 0, n) for i, n in enumerate(corpus.n_frames)], np.int64).reshape(-1, 3)
    return TaskRows(spans, labels, corpus.split_of(spans[:, 0]))


REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add `task` to the registry under task.name (each name once)."""
    if task.name in REGISTRY:
        raise ValueError(f"probing task {task.name!r} is registered twice")
    REGISTRY[task.name] = task
    return task


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
