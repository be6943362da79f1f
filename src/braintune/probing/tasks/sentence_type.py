"""sentence-type: SA / SI / SX of a TIMIT utterance (the file name's first two letters), from
the mean-pooled utterance; multinomial logistic classifier, macro- and micro-F1."""

from __future__ import annotations

import numpy as np

from braintune.probing.tasks import Task, TaskRows, item_rows, register


def rows(corpus, settings, seed: int) -> TaskRows:
    """One row per utterance (all its frames); labels (rows,) "SA" | "SI" | "SX"."""
    return item_rows(corpus, np.array([u.sentence_type for u in corpus.items]))


TASK = register(Task("sentence-type", "timit", rows, "classifier", "TIMIT utterances -> SA / SI / SX, classifier, F1"))
