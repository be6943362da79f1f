"""phonemes: which of the 39 folded phones occur in a TIMIT segment, from the mean-pooled
segment; one logistic classifier per phone, macro- and micro-F1.

Segments are whole utterances, or pieces of settings.segment_seconds (a last piece shorter
than half a segment is dropped). A segment covers the receptive fields of its frames, and
a phone occurs in it if their sample ranges overlap.
"""

from __future__ import annotations

import numpy as np

from braintune.data import timit
from braintune.data.audio import FRAME_RATE, HOP, RECEPTIVE_FIELD
from braintune.probing.tasks import Task, TaskRows, register


def segments(n_frames: int, segment_seconds: float | None) -> list[tuple[int, int]]:
    """[first frame, end frame) of each segment of an item of `n_frames` frames."""
    if segment_seconds is None:
        return [(0, n_frames)]
    length = max(1, round(segment_seconds * FRAME_RATE))
    pieces = [(a, min(a + length, n_frames)) for a in range(0, n_frames, length)]
    return [p for k, p in enumerate(pieces) if k == 0 or p[1] - p[0] >= length / 2]


def rows(corpus, settings, seed: int) -> TaskRows:
    """One row per segment; labels (rows, 39) int8, 1 where the phone (timit.PHONES_39) occurs."""
    index = {p: j for j, p in enumerate(timit.PHONES_39)}
    spans, labels = [], []
    for i, (utterance, n) in enumerate(zip(corpus.items, corpus.n_frames)):
        phones = timit.read_phones(utterance)
        for a, b in segments(int(n), settings.segment_seconds):
            row = np.zeros(len(timit.PHONES_39), np.int8)
            row[[index[p] for p in timit.phone_set(phones, a * HOP, (b - 1) * HOP + RECEPTIVE_FIELD)]] = 1
            spans.append((i, a, b))
            labels.append(row)
    spans = np.array(spans, np.int64).reshape(-1, 3)
    return TaskRows(spans, np.array(labels).reshape(-1, len(timit.PHONES_39)), corpus.split_of(spans[:, 0]))


TASK = register(Task("phonemes", "timit", rows, "multilabel", "TIMIT segments -> which of 39 phones occur, one classifier "
                     "per phone, F1"))
