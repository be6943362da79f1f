"""The corpus, the masked-prediction targets, the masks and the training windows: what a step consumes.

Iteration 1 of masked prediction clusters MFCC frames (13 coefficients with deltas and
delta-deltas, computed on exactly the model's frame grid); iteration 2 (optional) clusters the
features of an intermediate layer of the iteration-1 model. Masks: HuBERT's span_mask (drawn from
the caller's generator) for masked prediction; transformers' own _compute_mask_indices and
_sample_negative_indices (numpy's global generator, reseeded every epoch) for the contrastive
objective, as its pretraining script does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

from braintune.data.audio import HOP, RECEPTIVE_FIELD, SAMPLE_RATE, num_frames, read_audio
from braintune.errors import DataError
from braintune.models.encoders import hidden_states
from braintune.pretraining.settings import PretrainSettings
from braintune.progress import tqdm

AUDIO_SUFFIXES = (".wav", ".flac", ".sph")


# ---- corpus ------------------------------------------------------------------------------
@dataclass
class Corpus:
    """Recordings of a corpus folder (sorted by path): audio (samples,) float32 at 16 kHz each,
    `validation` marks the held-out recordings."""

    root: Path
    names: list[str]
    audio: list[np.ndarray]
    validation: np.ndarray  # (recordings,) bool

    @property
    def frames(self) -> np.ndarray:
        """(recordings,) model frames of each recording."""
        return np.array([num_frames(a.size) for a in self.audio])

    def seconds(self, validation: bool | None = None) -> float:
        keep = [a.size for a, v in zip(self.audio, self.validation) if validation is None or v == validation]
        return float(sum(keep)) / SAMPLE_RATE


def load_corpus(root: str | os.PathLike, settings: PretrainSettings) -> Corpus:
    """Every audio file under `root` (WAV, FLAC, SPHERE; resampled to 16 kHz, channels mixed);
    a seeded `validation_fraction` of them (at least one) is held out. Files shorter than a
    training window are an error."""
    root = Path(root)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if len(paths) < 2:
        raise DataError(f"{root}: a pretraining corpus needs at least two audio files ({', '.join(AUDIO_SUFFIXES)})")
    audio = []
    for path in tqdm(paths, desc="read corpus", unit="file", leave=False):
        a = read_audio(path)
        if a.size < settings.window_samples:
            raise DataError(f"{path}: {a.size / SAMPLE_RATE:.2f} s of audio, shorter than a training window "
                            f"({settings.window_seconds} s)")
        audio.append(a)
    n_val = max(1, round(settings.validation_fraction * len(paths))) if settings.validation_fraction else 0
    validation = np.zeros(len(paths), bool)
    validation[np.random.default_rng([settings.seed, 1]).permutation(len(paths))[:n_val]] = True
    return Corpus(root, [str(p.relative_to(root)) for p in paths], audio, validation)


# ---- targets -------------------------------------------------------------------------------
def mfcc_features(audio: np.ndarray) -> np.ndarray:
    """13 MFCCs (the MFCC probe's, braintune.probing.tasks.mfcc.mfcc_frames) with deltas and
    delta-deltas (9-frame windows) on the model's frame grid. (samples,) -> (frames, 39) float32"""
    import librosa

    from braintune.probing.tasks.mfcc import mfcc_frames

    mfcc = mfcc_frames(audio).T  # (13, frames); a recording holds at least a training window (> 20 frames)
    deltas = [librosa.feature.delta(mfcc, width=9, order=k) for k in (1, 2)]
    return np.concatenate([mfcc, *deltas]).T.astype(np.float32)


@torch.no_grad()
def layer_features(model: transformers.PreTrainedModel, audio: np.ndarray, layer: int, window: int) -> np.ndarray:
    """Hidden state `layer` of every frame, computed in consecutive windows of `window` frames
    (the training windows' length; the last window ends with the recording). -> (frames, hidden)"""
    total = num_frames(audio.size)
    out = np.zeros((total, model.config.hidden_size), np.float32)
    for first in range(0, total, window):
        start = min(first, max(0, total - window))  # the last window ends with the recording
        n = min(window, total)
        samples = torch.from_numpy(audio[HOP * start: HOP * (start + n - 1) + RECEPTIVE_FIELD])[None]
        out[start: start + n] = hidden_states(model, samples)[layer][0].numpy()
    return out


def cluster_targets(features: list[np.ndarray], corpus: Corpus, settings: PretrainSettings) -> dict:
    """k-means (scikit-learn, seeded) on `kmeans_frames` frames drawn from the training
    recordings, features z-scored; every frame's nearest centroid.

    features: per recording (frames, dims). -> labels (all frames,) int16, offsets
    (recordings + 1,), centroids (clusters, dims) in z-scored units, mean, std (dims,).
    """
    from sklearn.cluster import KMeans

    train = np.concatenate([f for f, v in zip(features, corpus.validation) if not v])
    if len(train) < settings.clusters:
        raise DataError(f"{corpus.root}: {len(train)} training frames, fewer than {settings.clusters} clusters")
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    rng = np.random.default_rng([settings.seed, 2])
    sample = train[np.sort(rng.choice(len(train), min(settings.kmeans_frames, len(train)), replace=False))]
    kmeans = KMeans(settings.clusters, n_init=3, max_iter=300, random_state=settings.seed).fit((sample - mean) / std)
    labels = [kmeans.predict(((f - mean) / std).astype(np.float32)).astype(np.int16) for f in features]
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in labels])])
    return dict(labels=np.concatenate(labels), offsets=offsets, centroids=kmeans.cluster_centers_.astype(np.float32),
                mean=mean, std=std)


# ---- masking and batching ------------------------------------------------------------------
def span_mask(batch: int, frames: int, prob: float, length: int, rng: np.random.Generator) -> np.ndarray:
    """HuBERT's time mask: floor(prob * frames + u) span starts per row (u uniform in [0, 1),
    drawn without replacement from 0..frames - length, at least one), each masking `length`
    frames; spans may overlap. -> (batch, frames) bool"""
    mask = np.zeros((batch, frames), bool)
    for row in mask:
        n = max(1, int(prob * frames + rng.random()))
        for start in rng.choice(frames - length + 1, min(n, frames - length + 1), replace=False):
            row[start: start + length] = True
    return mask


def plan_windows(frames: np.ndarray, recordings: np.ndarray, window: int, rng: np.random.Generator,
                 shuffle: bool = True) -> np.ndarray:
    """Training windows of `window` frames tiling each of `recordings` from a random offset on
    the frame grid (floor(frames / window) per recording), in random order.
    -> (windows, 2) int64 [recording, first frame]"""
    rows = []
    for r in recordings:
        k = int(frames[r]) // window
        offset = int(rng.integers(frames[r] - k * window + 1))
        rows += [(r, offset + j * window) for j in range(k)]
    plan = np.array(rows, np.int64).reshape(-1, 2)
    return plan[rng.permutation(len(plan))] if shuffle else plan


def window_batch(corpus: Corpus, targets: dict | None, plan: np.ndarray,
                 window: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """-> waveforms (n, window samples) float32, labels (n, window) int64 for the planned windows
    (None without targets: the contrastive objective)."""
    samples = HOP * (window - 1) + RECEPTIVE_FIELD
    audio = np.stack([corpus.audio[r][HOP * f: HOP * f + samples] for r, f in plan])
    if targets is None:
        return torch.from_numpy(audio), None
    labels = np.stack([targets["labels"][targets["offsets"][r] + f: targets["offsets"][r] + f + window] for r, f in plan])
    return torch.from_numpy(audio), torch.from_numpy(labels.astype(np.int64))


def contrastive_masks(batch: int, settings: PretrainSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """wav2vec2's masks and distractors, drawn by transformers' own helpers from numpy's global
    generator: spans of mask_length frames, floor(mask_prob * frames + u) starts per window (u
    uniform in [0, 1), one per batch; at least 2; transformers' mask_prob is the share of frames,
    mask_prob * mask_length here), and for every masked frame num_negatives distractor frames
    drawn uniformly, with replacement, from the other masked frames of its window.
    -> mask (batch, frames) bool, negatives (batch, frames, num_negatives) int64 indices into
    the flattened (batch * frames) frames (0 at unmasked frames)."""
    shape = (batch, settings.window_frames)
    mask = _compute_mask_indices(shape, settings.mask_prob * settings.mask_length, settings.mask_length, min_masks=2)
    negatives = _sample_negative_indices(shape, settings.num_negatives, mask_time_indices=mask)
    return torch.from_numpy(mask), torch.from_numpy(negatives.astype(np.int64))
