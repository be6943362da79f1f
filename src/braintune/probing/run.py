"""The probing suite: per layer, the same linear probes for every model.

The tasks are registered in braintune.probing.tasks (one module each: mfcc, phonemes,
sentence-type on TIMIT; words on Speech Commands). For each corpus the chosen tasks read,
the model runs once over the items their rows need (features cached on disk), then each
task's probe is fit, chosen on validation rows and scored on test rows, layer by layer.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from braintune import models
from braintune.data.corpora import PROBE_CORPORA
from braintune.errors import ConfigError
from braintune.io import write_table
from braintune.probing.corpora import CORPORA
from braintune.probing.features import ItemSet, extract
from braintune.probing.probes import PROBES
from braintune.probing.settings import TASKS, ProbeSettings
from braintune.probing.tasks import REGISTRY
from braintune.progress import tqdm

log = logging.getLogger(__name__)

COLUMNS = ["model", "layer", "task", "metric", "value"]


def run_probes(model, timit_root: str | Path | None = None, speech_commands_root: str | Path | None = None,
               out_dir: str | Path | None = None, cache_dir: str | Path | None = None, layers="all",
               settings: ProbeSettings = ProbeSettings(), seed: int = 0, device: str | None = None,
               progress: bool = True) -> pd.DataFrame:
    """Probe the layers of `model` (an id, a folder or a loaded encoder) on `settings.tasks`.

    Returns a tidy table (model, layer, task, metric, value): metric "r2" for mfcc,
    "macro_f1" and "micro_f1" for the classifiers. Features are cached under `cache_dir`
    (default: <out_dir>/features, else a temporary folder). With `out_dir`, the table is
    also written as probes.csv and probes.parquet. seed: the TIMIT validation speakers, the
    MFCC frames drawn and the classifiers' seed.
    """
    roots = {"timit": timit_root, "speech_commands": speech_commands_root}
    corpora = {corpus: settings.tasks_on(corpus) for corpus in settings.corpora}
    for corpus, tasks in corpora.items():
        if roots[corpus] is None:
            raise ConfigError(f"tasks {tasks} need a {PROBE_CORPORA[corpus].title} folder")
    encoder = models.load_encoder(model, device=device) if isinstance(model, (str, os.PathLike)) else model
    tag = models.model_tag(model)
    layers = models.select_layers(layers, encoder.config.num_hidden_layers + 1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="braintune-probe-") as scratch:
        cache = Path(cache_dir if cache_dir is not None else Path(out_dir) / "features" if out_dir else scratch)
        for corpus_name, tasks in corpora.items():
            corpus = CORPORA[corpus_name](roots[corpus_name], settings, seed)
            task_rows = {t: REGISTRY[t].rows(corpus, settings, seed) for t in tasks}
            spans, row_of = np.unique(np.concatenate([r.spans for r in task_rows.values()]), axis=0,
                                      return_inverse=True)  # each distinct span extracted once
            items = ItemSet(corpus.name, corpus.fingerprints, corpus.n_samples, corpus.load, spans)
            features = extract(encoder, items, cache, settings.batch_size, progress)
            starts = np.cumsum([0] + [len(r.spans) for r in task_rows.values()])
            for (task, data), start in zip(task_rows.items(), starts):
                probe = REGISTRY[task].probe
                probe = PROBES[probe] if isinstance(probe, str) else probe
                own = row_of.reshape(-1)[start : start + len(data.spans)]
                for layer in tqdm(layers, desc=f"probe {task}", unit="layer", disable=not progress):
                    result = probe(np.asarray(features.pooled(layer)[own]), data.labels, data.split, seed)
                    log.debug("%s %s layer %d: chosen on validation %s", tag, task, layer, result.chosen)
                    rows += [(tag, layer, task, m, v) for m, v in result.scores.items()]
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["task"] = pd.Categorical(table["task"], categories=list(TASKS))
    table = table.sort_values(["task", "layer", "metric"]).reset_index(drop=True)
    table["task"] = table["task"].astype(str)
    if out_dir is not None:
        write_table(table, out_dir, "probes")
    return table
