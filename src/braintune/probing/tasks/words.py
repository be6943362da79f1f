"""words: which of the 35 words a Speech Commands clip says, from the mean-pooled clip;
multinomial logistic classifier, macro- and micro-F1."""

from __future__ import annotations

import numpy as np

from braintune.probing.tasks import Task, TaskRows, item_rows, register


def rows(corpus, settings, seed: int) -> TaskRows:
    """One row per clip (all its frames); labels (rows,) int64 index into the sorted words."""
    words = sorted({clip.word for clip in corpus.items})
    return item_rows(corpus, np.array([words.index(clip.word) for clip in corpus.items], np.int64))


TASK = register(Task("words", "speech_commands", rows, "classifier", "Speech Commands clips -> the word, classifier, F1"))
