"""mfcc: ridge from single frames of a layer to their 13 MFCCs (TIMIT), test R².

The MFCCs are aligned to the model's frames exactly (librosa n_fft=400, hop 320, no
centring: frame i covers samples [320 i, 320 i + 400), the model frame's receptive field).
settings.frames_per_utterance frames are drawn (seeded) per utterance (None: all).
"""

from __future__ import annotations

import numpy as np

from braintune.probing.tasks import Task, TaskRows, register

N_MFCC = 13


def mfcc_frames(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """13 MFCCs per model frame: (samples,) -> (1 + (samples - 400) // 320, 13) float32."""
    import librosa

    m = librosa.feature.mfcc(y=np.asarray(audio, np.float32), sr=sample_rate, n_mfcc=N_MFCC, n_fft=400,
                             hop_length=320, center=False)
    return m.T.astype(np.float32)


def rows(corpus, settings, seed: int) -> TaskRows:
    """One row per drawn frame; labels (rows, 13) float32, the frame's MFCCs."""
    rng = np.random.default_rng(seed)
    spans, labels = [], []
    for i, n in enumerate(corpus.n_frames):
        chosen = np.arange(n) if settings.frames_per_utterance is None or n <= settings.frames_per_utterance \
            else np.sort(rng.choice(n, settings.frames_per_utterance, replace=False))
        spans += [(i, int(f), int(f) + 1) for f in chosen]
        labels.append(mfcc_frames(corpus.load(i))[chosen])
    spans = np.array(spans, np.int64).reshape(-1, 3)
    return TaskRows(spans, np.concatenate(labels), corpus.split_of(spans[:, 0]))


TASK = register(Task("mfcc", "timit", rows, "ridge", "TIMIT frames -> their 13 MFCCs, ridge, R2"))
