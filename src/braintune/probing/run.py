"""The probing suite: per layer, the same four linear probes for every model.

- mfcc: ridge from single frames to their 13 MFCCs (TIMIT), test R².
- words: logistic classifier of the 35 words from the mean-pooled clip (Speech Commands).
- phonemes: one logistic classifier per phone for which of the 39 folded phones occur in a
  segment (TIMIT; whole utterances unless `segment_seconds`).
- sentence-type: logistic classifier of SA / SI / SX from the mean-pooled utterance (TIMIT).

Splits: TIMIT tests on its TEST speakers (all, or the 24-speaker core set) and chooses
regularisation on a validation set of whole TRAIN speakers; Speech Commands tests on
testing_list.txt and chooses on validation_list.txt.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from braintune import models
from braintune.data import speech_commands, timit
from braintune.errors import ConfigError
from braintune.io import write_table
from braintune.probing.features import ItemSet, LayerFeatures, extract
from braintune.probing.probes import ProbeResult, Split, classifier_probe, multilabel_probe, ridge_probe
from braintune.progress import tqdm

log = logging.getLogger(__name__)

TASKS = ("mfcc", "words", "phonemes", "sentence-type")
TIMIT_TASKS = ("mfcc", "phonemes", "sentence-type")
HOP, RECEPTIVE_FIELD, FRAME_RATE = 320, 400, 50
COLUMNS = ["model", "layer", "task", "metric", "value"]


def _fingerprint(path: Path) -> str:
    st = path.stat()
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def carve_validation_speakers(speakers: list[str], fraction: float = 0.1, seed: int = 0) -> set[str]:
    """A seeded random `fraction` (at least one, at most all but one) of the distinct speakers."""
    distinct = sorted(set(speakers))
    if len(distinct) < 2:
        raise ConfigError("need at least two training speakers to carve a validation set")
    n = min(len(distinct) - 1, max(1, round(fraction * len(distinct))))
    order = np.random.default_rng(seed).permutation(len(distinct))
    return {distinct[i] for i in order[:n]}


@dataclass
class TimitProbeData:
    """TIMIT items and labels. Row sets: `utterances` rows 0..U-1 of the pooled features are
    whole utterances; `segment_rows` the phoneme-probe rows (the utterance rows if no segmenting)."""

    items: ItemSet
    utterances: list[timit.Utterance]
    role: np.ndarray  # (U,) "fit" | "validation" | "test" per utterance
    segment_rows: np.ndarray  # (S,) rows of the pooled features
    segment_utterance: np.ndarray  # (S,) utterance index of each segment row
    phone_labels: np.ndarray  # (S, 39) int8: which folded phones occur in the segment

    def split_of(self, utterance_of_row: np.ndarray) -> Split:
        roles = self.role[utterance_of_row]
        return Split(*(np.flatnonzero(roles == r) for r in ("fit", "validation", "test")))


def timit_probe_data(root: str | Path, test_set: str = "test", segment_seconds: float | None = None,
                     frames_per_utterance: int | None = 20, validation_fraction: float = 0.1,
                     seed: int = 0) -> TimitProbeData:
    """Items, rows and labels of the TIMIT probes.

    test_set: "test" (all TEST speakers) or "core-test". segment_seconds: length of the
    phoneme-probe segments (None: whole utterances); a segment covers the receptive fields
    of its frames, and a phone occurs in it if their sample ranges overlap; a last piece
    shorter than half a segment is dropped. frames_per_utterance: frames drawn (seeded)
    per utterance for the MFCC probe (None: all).
    """
    if test_set not in ("test", "core-test"):
        raise ConfigError(f"TIMIT test set must be 'test' or 'core-test', not {test_set!r}")
    train = timit.list_utterances(root, "train")
    test = timit.list_utterances(root, test_set)
    utterances = train + test
    validation = carve_validation_speakers([u.speaker for u in train], validation_fraction, seed)
    role = np.array(["validation" if u.speaker in validation else "fit" for u in train] + ["test"] * len(test))
    n_samples = np.array([timit.num_samples(u) for u in utterances], np.int64)
    n_frames = np.array([models.num_frames(int(n)) for n in n_samples])
    rng = np.random.default_rng(seed)
    spans = [(i, 0, t) for i, t in enumerate(n_frames)]
    picks = []
    for i, t in enumerate(n_frames):
        chosen = np.arange(t) if frames_per_utterance is None or t <= frames_per_utterance else \
            np.sort(rng.choice(t, frames_per_utterance, replace=False))
        picks += [(i, int(f)) for f in chosen]
    segment_utterance, labels = [], []
    index = {p: j for j, p in enumerate(timit.PHONES_39)}
    for i, u in enumerate(utterances):
        phones = timit.read_phones(u)
        pieces = [(0, int(n_frames[i]))]
        if segment_seconds is not None:
            length = max(1, round(segment_seconds * FRAME_RATE))
            pieces = [(a, min(a + length, n_frames[i])) for a in range(0, n_frames[i], length)]
            pieces = [p for k, p in enumerate(pieces) if k == 0 or p[1] - p[0] >= length / 2]
        for a, b in pieces:
            if segment_seconds is not None:
                spans.append((i, a, b))
            row = np.zeros(len(timit.PHONES_39), np.int8)
            row[[index[p] for p in timit.phone_set(phones, a * HOP, (b - 1) * HOP + RECEPTIVE_FIELD)]] = 1
            labels.append(row)
            segment_utterance.append(i)
    segment_rows = (np.arange(len(utterances)) if segment_seconds is None
                    else len(utterances) + np.arange(len(segment_utterance)))
    items = ItemSet("timit", [_fingerprint(u.path("WAV")) for u in utterances], n_samples,
                    lambda i: timit.read_audio(utterances[i]), np.array(spans, np.int64).reshape(-1, 3),
                    np.array(picks, np.int64).reshape(-1, 2))
    return TimitProbeData(items, utterances, role, segment_rows, np.array(segment_utterance), np.array(labels))


@dataclass
class CommandsProbeData:
    """Speech Commands items (row i = clip i, mean-pooled), word labels and the listed split."""

    items: ItemSet
    clips: list[speech_commands.Clip]
    words: list[str]
    labels: np.ndarray  # (clips,) index into words
    split: Split


def speech_commands_probe_data(root: str | Path) -> CommandsProbeData:
    """Items (one mean-pooled span per 1 s clip), word labels and the listed split."""
    clips = speech_commands.list_clips(root)
    words = sorted({c.word for c in clips})
    n = models.num_frames(speech_commands.CLIP_SAMPLES)
    items = ItemSet("speech-commands", [_fingerprint(c.path) for c in clips],
                    np.full(len(clips), speech_commands.CLIP_SAMPLES, np.int64),
                    lambda i: speech_commands.read_clip(clips[i]),
                    np.array([(i, 0, n) for i in range(len(clips))], np.int64).reshape(-1, 3),
                    np.zeros((0, 2), np.int64))
    role = np.array([c.split for c in clips])
    split = Split(*(np.flatnonzero(role == r) for r in ("train", "validation", "test")))
    return CommandsProbeData(items, clips, words, np.array([words.index(c.word) for c in clips]), split)


def _timit_probe(task: str, feats: LayerFeatures, data: TimitProbeData, layer: int, seed: int) -> ProbeResult:
    if task == "mfcc":
        split = data.split_of(data.items.picks[:, 0])
        return ridge_probe(np.asarray(feats.frames(layer)), np.asarray(feats.mfcc()), split)
    pooled = feats.pooled(layer)
    if task == "phonemes":
        split = data.split_of(data.segment_utterance)
        return multilabel_probe(np.asarray(pooled[data.segment_rows]), data.phone_labels, split)
    n = len(data.utterances)
    types = np.array([u.sentence_type for u in data.utterances])
    return classifier_probe(np.asarray(pooled[:n]), types, data.split_of(np.arange(n)), seed=seed)


def run_probes(model, tasks=TASKS, timit_root: str | Path | None = None,
               speech_commands_root: str | Path | None = None, out_dir: str | Path | None = None,
               cache_dir: str | Path | None = None, layers: list[int] | None = None, seed: int = 0,
               segment_seconds: float | None = None, frames_per_utterance: int | None = 20,
               timit_test_set: str = "test", validation_fraction: float = 0.1, batch_size: int = 16,
               device: str | None = None, progress: bool = True) -> pd.DataFrame:
    """Probe every layer of `model` (an id, a folder or a loaded encoder) on `tasks`.

    Returns a tidy table (model, layer, task, metric, value): metric "r2" for mfcc,
    "macro_f1" and "micro_f1" for the classifiers. Features are cached under `cache_dir`
    (default: <out_dir>/features, else a temporary folder). With `out_dir`, the table is
    also written as probes.csv and probes.parquet.
    """
    tasks = list(tasks)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown probing task(s) {unknown}; choose from {list(TASKS)}")
    if any(t in TIMIT_TASKS for t in tasks) and timit_root is None:
        raise ConfigError(f"tasks {[t for t in tasks if t in TIMIT_TASKS]} need a TIMIT folder")
    if "words" in tasks and speech_commands_root is None:
        raise ConfigError("task 'words' needs a Speech Commands folder")
    encoder = models.load_encoder(model, device=device) if isinstance(model, (str, os.PathLike)) else model
    tag = models.model_tag(model)
    n_layers = encoder.config.num_hidden_layers + 1
    layers = list(range(n_layers)) if layers is None else list(layers)
    bad = [k for k in layers if not 0 <= k < n_layers]
    if bad:
        raise ConfigError(f"layers {bad} out of range: {tag} has layers 0..{n_layers - 1}")
    with tempfile.TemporaryDirectory(prefix="braintune-probe-") as scratch:
        cache = Path(cache_dir if cache_dir is not None else Path(out_dir) / "features" if out_dir else scratch)
        rows = []
        timit_tasks = [t for t in tasks if t in TIMIT_TASKS]
        if timit_tasks:
            data = timit_probe_data(timit_root, timit_test_set, segment_seconds, frames_per_utterance,
                                    validation_fraction, seed)
            feats = extract(encoder, data.items, cache, batch_size, progress)
            for task in timit_tasks:
                for layer in tqdm(layers, desc=f"probe {task}", unit="layer", disable=not progress):
                    result = _timit_probe(task, feats, data, layer, seed)
                    log.debug("%s %s layer %d: chosen on validation %s", tag, task, layer, result.chosen)
                    rows += [(tag, layer, task, m, v) for m, v in result.scores.items()]
        if "words" in tasks:
            sc = speech_commands_probe_data(speech_commands_root)
            feats = extract(encoder, sc.items, cache, batch_size, progress)
            for layer in tqdm(layers, desc="probe words", unit="layer", disable=not progress):
                result = classifier_probe(np.asarray(feats.pooled(layer)), sc.labels, sc.split, seed=seed)
                log.debug("%s words layer %d: chosen on validation %s", tag, layer, result.chosen)
                rows += [(tag, layer, "words", m, v) for m, v in result.scores.items()]
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["task"] = pd.Categorical(table["task"], categories=list(TASKS))
    table = table.sort_values(["task", "layer", "metric"]).reset_index(drop=True)
    table["task"] = table["task"].astype(str)
    if out_dir is not None:
        write_table(table, out_dir, "probes")
    return table
