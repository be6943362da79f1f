"""Self-supervised pretraining of a small speech encoder by HuBERT's masked prediction.

Hsu et al. 2021 (HuBERT): spans of frames are masked (each frame starts a span with
probability `mask_prob`, spans of `mask_length` frames, overlaps allowed); the encoder sees
the masked frames replaced by a learned embedding and predicts, for every masked frame,
its k-means cluster: the last layer is projected to `final_dim`, and its cosine similarity
with a learned embedding of each cluster, divided by `temperature`, gives the logits of a
cross-entropy over the masked frames. The CNN and the transformer train together.
HuBERT's loss is alpha L_masked + (1 - alpha) L_unmasked (alpha = 1 in its base recipe); here
L_masked + unmasked_weight L_unmasked. On a CPU budget of a few thousand steps the unmasked
term (weight 0.5, alpha = 2/3) teaches the CNN front end faster and lowers the masked loss too
(docs/pretraining.md).
Iteration 1 clusters MFCC frames (13 coefficients with deltas and delta-deltas, computed on
exactly the model's frame grid); iteration 2 (optional) clusters the features of an
intermediate layer of the iteration-1 model and trains a fresh model on them.

The model is a Hugging Face HubertModel (or Wav2Vec2Model) built like the tiny preset
(braintune.models.encoders.tiny_config: group-norm CNN with the real kernels and strides,
no dropout, a short position convolution), only wider and deeper, so every other stage
loads it like any checkpoint.

Run folder (`pretrain(out, ...)`):
```
OUT/run.json             settings, corpus, recordings; written first: a rerun with other settings, or
                         a non-empty OUT without it, is refused
OUT/corpus/              the stand-in corpus (braintune.synthetic.speech_corpus), unless one is given
OUT/targets-<i>.npz      iteration i: cluster label of every frame (recordings concatenated), centroids
OUT/checkpoint.pt        after every epoch: model, head, optimiser, schedule, log (resume point)
OUT/log.jsonl            per epoch: train and validation loss and masked-prediction accuracy
OUT/timings.json         wall seconds of each step (summed over resumed runs)
OUT/probe-data/          stand-in TIMIT and Speech Commands for the evaluation probes
OUT/probe-features/      their cached layer features (braintune.probing)
OUT/random-init/         the same config and seed, untrained (the probes' baseline)
OUT/probes.csv|parquet   probes per layer of the pretrained and the random-init model
OUT/model/               save_pretrained folder + preprocessor_config.json + card.json + card.md
```
Deterministic on one machine and thread count: the corpus, the k-means, each epoch's
windows and masks (numpy generators seeded by (seed, iteration, epoch)) and torch's global
generators (reseeded every epoch) depend only on the settings, so a run killed at any point
and rerun ends with the same weights.

The MFCC targets (the MFCC probe's frames), the evaluation (evaluate_probes) and the stand-in
corpora come from the probing stage and braintune.synthetic.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers
from torch import nn

from braintune.data.audio import (
    FRAME_RATE,
    HOP,
    RECEPTIVE_FIELD,
    SAMPLE_RATE,
    num_frames,
    read_audio,
)
from braintune.errors import ConfigError, DataError
from braintune.io import write_atomic, write_atomic_with, write_folder_atomic, write_table
from braintune.models.encoders import hidden_states, load_encoder, model_input, tiny_config
from braintune.progress import tqdm
from braintune.training import reseed, warmup_then_linear_decay

log = logging.getLogger(__name__)

AUDIO_SUFFIXES = (".wav", ".flac", ".sph")
ADAM_BETAS, ADAM_EPS = (0.9, 0.98), 1e-6  # HuBERT's


def _setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that decides a pretraining run's result; the defaults are the shipped recipe."""

    family: str = _setting("hubert", "model family: hubert or wav2vec2")
    hidden_size: int = _setting(128, "transformer width")
    num_layers: int = _setting(6, "transformer blocks")
    num_heads: int = _setting(4, "attention heads")
    intermediate_size: int = _setting(512, "feed-forward width")
    conv_channels: int = _setting(64, "channels of each of the 7 CNN layers (kernels and strides as the base models)")
    corpus_seconds: float = _setting(10800.0, "seconds of stand-in speech to generate (ignored with --corpus)")
    speaker_seconds: float = _setting(40.0, "seconds read by each stand-in speaker")
    corpus_seed: int = _setting(0, "seed of the stand-in corpus")
    validation_fraction: float = _setting(0.05, "share of the recordings held out to validate every epoch")
    clusters: int = _setting(100, "k-means clusters (prediction targets)")
    kmeans_frames: int = _setting(200_000, "frames drawn to fit k-means")
    iterations: int = _setting(1, "1: MFCC targets; 2: then k-means on --target-layer of the iteration-1 model")
    target_layer: int = _setting(4, "iteration 2 clusters this layer of the iteration-1 model")
    teacher: str = _setting("", "the iteration-1 model (a folder or a model id) whose --target-layer iteration 2 "
                                "clusters, instead of training iteration 1 first (needs --iterations 2)")
    epochs: int = _setting(20, "passes over the corpus per iteration")
    window_seconds: float = _setting(4.0, "length of the training windows (cut from the recordings on the frame grid)")
    batch_size: int = _setting(8, "windows per optimiser step")
    lr: float = _setting(2e-3, "peak AdamW learning rate (linear warm-up, then linear decay to 0)")
    warmup_fraction: float = _setting(0.08, "share of the steps of an iteration spent warming up")
    weight_decay: float = _setting(0.01, "AdamW weight decay")
    max_grad_norm: float = _setting(10.0, "gradient norm clip")
    mask_prob: float = _setting(0.08, "probability that a frame starts a masked span")
    mask_length: int = _setting(10, "frames per masked span")
    final_dim: int = _setting(64, "dimension of the projection compared with the cluster embeddings")
    temperature: float = _setting(0.1, "cosine-similarity logits are divided by this")
    unmasked_weight: float = _setting(0.5, "weight of the unmasked frames' cross-entropy beside the masked frames' "
                                           "(HuBERT's (1 - alpha) / alpha; 0: masked frames only)")
    seed: int = _setting(0, "seed of initialisation, windows, masks and k-means")

    def __post_init__(self):
        if self.family not in ("hubert", "wav2vec2"):
            raise ConfigError(f"pretrain setting family must be 'hubert' or 'wav2vec2', not {self.family!r}")
        positive = ("hidden_size", "num_layers", "num_heads", "intermediate_size", "conv_channels", "corpus_seconds",
                    "clusters", "kmeans_frames", "epochs", "window_seconds", "batch_size", "lr", "mask_length",
                    "final_dim", "temperature", "max_grad_norm")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"pretrain setting {name} must be > 0, got {getattr(self, name)!r}")
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"pretrain setting hidden_size ({self.hidden_size}) must be a multiple of num_heads")
        if self.iterations not in (1, 2):
            raise ConfigError(f"pretrain setting iterations must be 1 or 2, got {self.iterations}")
        if self.iterations == 2 and not 0 <= self.target_layer <= self.num_layers:
            raise ConfigError(f"pretrain setting target_layer must lie in 0..{self.num_layers}, got {self.target_layer}")
        if self.teacher and self.iterations != 2:
            raise ConfigError("pretrain setting teacher needs iterations 2 (it stands in for iteration 1)")
        for name in ("validation_fraction", "warmup_fraction", "mask_prob"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"pretrain setting {name} must lie in [0, 1), got {getattr(self, name)!r}")
        if self.window_frames <= 2 * self.mask_length:
            raise ConfigError("pretrain setting window_seconds is too short for the masked spans")

    @property
    def window_frames(self) -> int:
        return round(self.window_seconds * FRAME_RATE)

    @property
    def window_samples(self) -> int:
        return HOP * (self.window_frames - 1) + RECEPTIVE_FIELD

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def command(self, out: str | os.PathLike, corpus: str | os.PathLike | None = None) -> str:
        """The `braintune pretrain` command line that runs these settings (every setting spelled out)."""
        args = ["braintune", "pretrain", "--out", str(out)] + (["--corpus", str(corpus)] if corpus else [])
        for f in dataclasses.fields(self):
            if f.name != "teacher" or self.teacher:
                args += ["--" + f.name.replace("_", "-"), str(getattr(self, f.name))]
        return shlex.join(args)


# ---- the model and its prediction head ----------------------------------------------------------
def model_config(settings: PretrainSettings) -> transformers.PretrainedConfig:
    """The encoder's config: the tiny preset of `family` (no dropout, 32-frame position
    convolution, real CNN kernels and strides, do_normalize) at the settings' size."""
    config = tiny_config(settings.family)
    config.hidden_size = settings.hidden_size
    config.num_hidden_layers = settings.num_layers
    config.num_attention_heads = settings.num_heads
    config.intermediate_size = settings.intermediate_size
    config.conv_dim = (settings.conv_channels,) * len(config.conv_dim)
    return config


def build_model(settings: PretrainSettings) -> transformers.PreTrainedModel:
    """The encoder at its initialisation (drawn with `settings.seed`; torch's global generator is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        return transformers.AutoModel.from_config(model_config(settings))


class PredictionHead(nn.Module):
    """Logits of each frame's cluster: cos(W h, e_k) / temperature for every cluster embedding e_k."""

    def __init__(self, hidden: int, final_dim: int, clusters: int, temperature: float):
        super().__init__()
        self.project = nn.Linear(hidden, final_dim)
        self.embeddings = nn.Parameter(torch.randn(clusters, final_dim))
        self.temperature = temperature

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(n, hidden) -> (n, clusters)"""
        projected = nn.functional.normalize(self.project(frames), dim=-1)
        return projected @ nn.functional.normalize(self.embeddings, dim=-1).T / self.temperature


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


def window_batch(corpus: Corpus, targets: dict, plan: np.ndarray, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> waveforms (n, window samples) float32, labels (n, window) int64 for the planned windows."""
    samples = HOP * (window - 1) + RECEPTIVE_FIELD
    audio = np.stack([corpus.audio[r][HOP * f: HOP * f + samples] for r, f in plan])
    labels = np.stack([targets["labels"][targets["offsets"][r] + f: targets["offsets"][r] + f + window] for r, f in plan])
    return torch.from_numpy(audio), torch.from_numpy(labels.astype(np.int64))


def masked_prediction(model, head: PredictionHead, waveforms: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                      unmasked_weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss of a batch, mean cross-entropy over masked frames + unmasked_weight x that over
    unmasked frames, and its tally (5,) float64: [Σ cross-entropy over masked frames, masked
    frames predicted right, masked frames, unmasked frames predicted right, unmasked frames].

    waveforms: (n, samples); labels, mask: (n, frames)."""
    hidden = model(input_values=model_input(model, waveforms), mask_time_indices=mask).last_hidden_state
    logits, target, masked = head(hidden.flatten(0, 1)), labels.flatten(), mask.flatten()
    loss = nn.functional.cross_entropy(logits, target, reduction="none")
    total = loss[masked].mean() + (unmasked_weight * loss[~masked].mean() if unmasked_weight else 0.0)
    right = logits.argmax(dim=1) == target
    tally = torch.stack([loss[masked].sum(), right[masked].sum(), masked.sum(), right[~masked].sum(), (~masked).sum()])
    return total, tally.detach().double()


def _summary(tally: torch.Tensor, prefix: str) -> dict:
    """Masked-frame loss and accuracy, unmasked-frame accuracy of a summed tally."""
    loss, right, n, right_u, n_u = tally.tolist()
    return {f"{prefix}_loss": round(loss / max(n, 1), 5), f"{prefix}_accuracy": round(right / max(n, 1), 5),
            f"{prefix}_unmasked_accuracy": round(right_u / max(n_u, 1), 5)}


# ---- training --------------------------------------------------------------------------------
def _schedule(settings: PretrainSettings, total_steps: int):
    warmup = max(1, int(settings.warmup_fraction * total_steps))
    return lambda step: warmup_then_linear_decay(step, warmup, total_steps)


class _Timer:
    """Wall seconds per step of the run, kept in OUT/timings.json across resumed runs."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds = json.loads(path.read_text()) if path.is_file() else {}

    def add(self, step: str, seconds: float) -> None:
        self.seconds[step] = round(self.seconds.get(step, 0.0) + seconds, 3)
        write_atomic(self.path, json.dumps(self.seconds, indent=1))


def validate(model, head, corpus: Corpus, targets: dict, settings: PretrainSettings) -> dict:
    """Loss and accuracies (_summary) over fixed windows and masks of the validation recordings."""
    rng = np.random.default_rng([settings.seed, 3])
    plan = plan_windows(corpus.frames, np.flatnonzero(corpus.validation), settings.window_frames, rng, shuffle=False)
    model.eval()
    tally = torch.zeros(5, dtype=torch.float64)
    with torch.no_grad():
        for b in range(0, len(plan), settings.batch_size):
            part = plan[b: b + settings.batch_size]
            waves, labels = window_batch(corpus, targets, part, settings.window_frames)
            mask = torch.from_numpy(span_mask(len(part), settings.window_frames, settings.mask_prob,
                                              settings.mask_length, rng))
            tally += masked_prediction(model, head, waves, labels, mask)[1]
    return _summary(tally, "validation")


def train_iteration(out: Path, iteration: int, corpus: Corpus, targets: dict, settings: PretrainSettings,
                    timer: _Timer, stop_after_epoch: int | None = None, progress: bool = True):
    """Train a fresh model and head on `targets` for settings.epochs, resuming from OUT/checkpoint.pt
    if it holds this iteration. -> (model, head, log records), or None if stopped early."""
    model = build_model(settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed + iteration)
        head = PredictionHead(settings.hidden_size, settings.final_dim, settings.clusters, settings.temperature)
    params = list(model.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=settings.lr, betas=ADAM_BETAS, eps=ADAM_EPS,
                                  weight_decay=settings.weight_decay)
    train = np.flatnonzero(~corpus.validation)
    per_epoch = -(-len(plan_windows(corpus.frames, train, settings.window_frames, np.random.default_rng(0)))
                  // settings.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(settings, per_epoch * settings.epochs))
    records, first = [], 1
    checkpoint_path = out / "checkpoint.pt"
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, weights_only=True)
        if state["iteration"] == iteration:
            model.load_state_dict(state["model"])
            head.load_state_dict(state["head"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            records, first = list(state["log"]), state["epoch"] + 1
            log.info("resuming iteration %d after epoch %d", iteration, state["epoch"])
        else:  # the previous iteration's last checkpoint: keep its log
            records = list(state["log"])
    for epoch in range(first, settings.epochs + 1):
        if stop_after_epoch is not None and (iteration - 1) * settings.epochs + epoch > stop_after_epoch:
            return None
        start = time.perf_counter()
        reseed(settings.seed, iteration, epoch)
        rng = np.random.default_rng([settings.seed, iteration, epoch])
        plan = plan_windows(corpus.frames, train, settings.window_frames, rng)
        model.train()
        tally = torch.zeros(5, dtype=torch.float64)
        bar = tqdm(range(0, len(plan), settings.batch_size), desc=f"iteration {iteration} epoch {epoch}/{settings.epochs}",
                   unit="step", disable=not progress, leave=False)
        for b in bar:
            part = plan[b: b + settings.batch_size]
            waves, labels = window_batch(corpus, targets, part, settings.window_frames)
            mask = torch.from_numpy(span_mask(len(part), settings.window_frames, settings.mask_prob,
                                              settings.mask_length, rng))
            loss, batch_tally = masked_prediction(model, head, waves, labels, mask, settings.unmasked_weight)
            loss.backward()
            nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            tally += batch_tally
            bar.set_postfix(loss=f"{tally[0] / tally[2]:.3f}", acc=f"{tally[1] / tally[2]:.3f}", refresh=False)
        record = {"iteration": iteration, "epoch": epoch, **_summary(tally, "train"),
                  **validate(model, head, corpus, targets, settings), "steps": len(bar)}
        record["seconds"] = round(time.perf_counter() - start, 1)
        records.append(record)
        log.info("iteration %d epoch %d: %s", iteration, epoch,
                 ", ".join(f"{k} {v}" for k, v in record.items() if k not in ("iteration", "epoch")))
        checkpoint = {"iteration": iteration, "epoch": epoch, "model": model.state_dict(), "head": head.state_dict(),
                      "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "log": records}
        write_atomic_with(checkpoint_path, lambda tmp, state=checkpoint: torch.save(state, tmp))
        write_atomic(out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        timer.add(f"train iteration {iteration}", record["seconds"])
    return model.eval(), head, records


# ---- the run -------------------------------------------------------------------------------
def pretrain(out: str | os.PathLike, settings: PretrainSettings = PretrainSettings(),
             corpus: str | os.PathLike | None = None, *, probes: bool = True, stop_after_epoch: int | None = None,
             progress: bool = True) -> Path:
    """Pretrain an encoder on `corpus` (a folder of recordings; default: generate the stand-in
    corpus in OUT/corpus) and write it with its card to OUT/model; returns that folder.

    A rerun in the same OUT resumes (from the last finished epoch); other settings or another
    corpus in the same OUT raise ConfigError, as does a non-empty OUT that holds no pretraining
    run (OUT/run.json). stop_after_epoch: stop after this many epochs
    (counted over iterations), to resume later. probes: evaluate both models on the probes.
    """
    from braintune.synthetic.speech_corpus import simulate_speech_corpus

    out = Path(out)
    run = {"settings": settings.to_dict(), "corpus": str(Path(corpus)) if corpus else "generated"}
    _check_run(out, run)  # before generating anything
    timer = _Timer(out / "timings.json")
    corpus_dir = Path(corpus) if corpus else _timed(timer, "corpus", lambda: simulate_speech_corpus(
        out / "corpus", settings.corpus_seconds, settings.speaker_seconds, settings.corpus_seed, progress))
    data = load_corpus(corpus_dir, settings)
    _check_run(out, {**run, "recordings": {n: int(a.size) for n, a in zip(data.names, data.audio)}})
    card = out / "model" / "card.json"
    if card.is_file() and (not probes or json.loads(card.read_text())["probes"]):
        return out / "model"
    done = torch.load(out / "checkpoint.pt", weights_only=True)["iteration"] if (out / "checkpoint.pt").is_file() else 0
    if settings.teacher:
        first = 2
        targets = _cached_targets(out, 2, timer, lambda: cluster_targets(
            [layer_features(_teacher(settings), a, settings.target_layer, settings.window_frames) for a in data.audio],
            data, settings))
    else:
        first = 1
        targets = _cached_targets(out, 1, timer, lambda: cluster_targets([mfcc_features(a) for a in data.audio], data,
                                                                          settings))
    for iteration in range(first, settings.iterations + 1):
        if iteration < done:
            targets = _cached_targets(out, iteration + 1, timer, None)
            continue
        result = train_iteration(out, iteration, data, targets, settings, timer, stop_after_epoch, progress)
        if result is None:
            log.info("stopped after epoch %d; rerun the same command to resume", stop_after_epoch)
            return out / "model"
        model, _, records = result
        if iteration < settings.iterations:
            targets = _cached_targets(out, iteration + 1, timer, lambda trained=model: cluster_targets(
                [layer_features(trained, a, settings.target_layer, settings.window_frames) for a in data.audio],
                data, settings))
    model_dir = save_encoder(model, out / "model")
    table = _timed(timer, "probes", lambda: evaluate_probes(out, settings, progress)) if probes else None
    write_card(model_dir, settings, data, targets, records, table, timer.seconds, settings.command(out, corpus),
               generated=corpus is None)
    return model_dir


def _teacher(settings: PretrainSettings) -> transformers.PreTrainedModel:
    """The iteration-1 model named by settings.teacher, on the CPU; its layers must reach target_layer."""
    model = load_encoder(settings.teacher, device="cpu")
    if settings.target_layer > model.config.num_hidden_layers:
        raise ConfigError(f"pretrain setting target_layer {settings.target_layer}: the teacher {settings.teacher} "
                          f"has {model.config.num_hidden_layers} layers")
    return model


def _timed(timer: _Timer, step: str, work):
    start = time.perf_counter()
    result = work()
    timer.add(step, time.perf_counter() - start)
    return result


def _check_run(out: Path, run: dict) -> None:
    """Claim OUT for `run` (settings and corpus; then its recordings) in OUT/run.json, written
    before anything else. Raise ConfigError if OUT is not empty and holds no pretraining run
    (its files would be replaced, or mixed into the generated corpus) or holds another run."""
    path = out / "run.json"
    if not path.is_file():
        if out.is_dir() and any(out.iterdir()):
            raise ConfigError(f"{out}: folder is not empty and holds no pretraining run (no run.json); "
                              "use a new or empty --out")
        write_atomic(path, json.dumps(run, indent=1))
        return
    try:
        saved = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc}); use another --out") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("settings"), dict) or "corpus" not in saved:
        raise ConfigError(f"{path}: not the record of a pretraining run; use another --out")
    if "recordings" not in saved and saved["corpus"] != "generated":
        saved = {}  # a given corpus that did not load: nothing was made in OUT yet
    for key, value in run.items():
        if key in saved and saved[key] != value:
            if isinstance(value, dict) and isinstance(saved[key], dict):
                names = sorted(k for k in value.keys() | saved[key].keys() if saved[key].get(k) != value.get(k))
                value = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
            raise ConfigError(f"{path}: the run in this folder has other {key} ({value}); "
                              "use another --out or the same settings")
    if run.keys() - saved.keys():
        write_atomic(path, json.dumps({**saved, **run}, indent=1))


def _cached_targets(out: Path, iteration: int, timer: _Timer, compute) -> dict:
    """OUT/targets-<iteration>.npz, computed (and timed) by `compute()` if absent."""
    path = out / f"targets-{iteration}.npz"
    if path.is_file():
        with np.load(path) as npz:
            return dict(npz)
    if compute is None:
        raise DataError(f"{path} is missing but the checkpoint is past iteration {iteration - 1}; start a new --out")
    targets = _timed(timer, f"targets iteration {iteration}", compute)
    write_atomic_with(path, lambda tmp: np.savez(tmp, **targets))
    return targets


def save_encoder(model: transformers.PreTrainedModel, folder: Path) -> Path:
    """save_pretrained (safetensors) + preprocessor_config.json (do_normalize=True), replacing `folder` at once."""

    def save(tmp: Path) -> None:
        model.save_pretrained(tmp)
        transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(tmp)

    return write_folder_atomic(folder, save)


def _generate_folder(folder: Path, generate) -> Path:
    """`generate(tmp)` into a temporary folder renamed to `folder` when complete; an existing `folder` is reused."""
    if not folder.is_dir():
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        generate(tmp)
        os.replace(tmp, folder)
    return folder


def evaluate_probes(out: Path, settings: PretrainSettings, progress: bool = True):
    """The probes (braintune.probing.run_probes, all tasks, every layer) of OUT/model and of its
    random initialisation (OUT/random-init), on stand-in TIMIT and Speech Commands of the
    generators' default sizes (seed settings.seed), written to OUT/probes.csv|parquet.
    -> table (model: pretrained | random-init, layer, task, metric, value)"""
    import pandas as pd

    from braintune.probing import run_probes
    from braintune.synthetic.corpora import simulate_speech_commands, simulate_timit

    data = out / "probe-data"
    timit = _generate_folder(data / "timit", lambda tmp: simulate_timit(tmp, seed=settings.seed, progress=progress))
    commands = _generate_folder(data / "speech_commands",
                                lambda tmp: simulate_speech_commands(tmp, seed=settings.seed, progress=progress))
    save_encoder(build_model(settings), out / "random-init")
    tables = []
    for name in ("pretrained", "random-init"):
        folder = out / ("model" if name == "pretrained" else name)
        table = run_probes(str(folder), timit_root=timit, speech_commands_root=commands,
                           cache_dir=out / "probe-features", seed=settings.seed, device="cpu", progress=progress)
        tables.append(table.assign(model=name))
    table = pd.concat(tables, ignore_index=True)
    write_table(table, out, "probes")
    return table


# ---- the card --------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or platform.machine()


def _corpus_card(corpus: Corpus, generated: bool, settings: PretrainSettings) -> dict:
    card = {"recordings": len(corpus.names), "seconds": round(corpus.seconds(), 1),
            "train_seconds": round(corpus.seconds(False), 1), "validation_seconds": round(corpus.seconds(True), 1),
            "validation_recordings": int(corpus.validation.sum())}
    if not generated:
        return {"folder": str(corpus.root), **card}
    import pandas as pd

    speakers = pd.read_csv(corpus.root / "speakers.tsv", sep="\t")
    accent, variant = speakers["voice"].str.split("+", expand=True).T.values
    return {
        "generator": "braintune.synthetic.speech_corpus.simulate_speech_corpus",
        "arguments": {"seconds": settings.corpus_seconds, "speaker_seconds": settings.speaker_seconds,
                      "seed": settings.corpus_seed},
        "speakers": len(speakers), "accents": sorted(set(accent)), "variants": sorted(set(variant)),
        "rate_wpm": [int(speakers["rate"].min()), int(speakers["rate"].max())],
        "pitch": [int(speakers["pitch"].min()), int(speakers["pitch"].max())],
        **card,
    }


def write_card(model_dir: Path, settings: PretrainSettings, corpus: Corpus, targets: dict, records: list[dict],
               probes, timings: dict, command: str, generated: bool) -> None:
    """MODEL/card.json (everything) and MODEL/card.md (the same, readable)."""
    counts = np.bincount(targets["labels"], minlength=settings.clusters)
    weights = model_dir / "model.safetensors"
    card = {
        "name": f"tiny-pretrained-{settings.family}",
        "command": command,
        "objective": (f"HuBERT masked prediction: spans of {settings.mask_length} frames starting at "
                      f"p={settings.mask_prob}; cross-entropy on masked frames"
                      + (f" (+ {settings.unmasked_weight} x on unmasked frames)" if settings.unmasked_weight else "")
                      + f" of cos(proj(h), e_k)/"
                      f"{settings.temperature} over {settings.clusters} k-means clusters of "
                      + ("MFCC frames (13 + deltas + delta-deltas)" if settings.iterations == 1 else
                         f"layer {settings.target_layer} of the iteration-1 model "
                         + (f"{settings.teacher}" if settings.teacher else "(iteration 1: MFCC frames)"))),
        "settings": settings.to_dict(),
        "model": {"parameters": sum(p.numel() for p in build_model(settings).parameters()),
                  "safetensors_bytes": weights.stat().st_size},
        "corpus": _corpus_card(corpus, generated, settings),
        "targets": {"clusters": settings.clusters, "chance_accuracy": 1 / settings.clusters,
                    "majority_share": round(float(counts.max() / counts.sum()), 5)},
        "epochs": records,
        "probes": None if probes is None else probes.to_dict(orient="records"),
        "timings_seconds": timings,
        "wall_seconds": round(sum(timings.values()), 1),
        "machine": {"cpu": _cpu_model(), "threads": torch.get_num_threads(), "torch": torch.__version__,
                    "transformers": transformers.__version__, "python": platform.python_version()},
    }
    write_atomic(model_dir / "card.json", json.dumps(card, indent=1) + "\n")
    write_atomic(model_dir / "card.md", card_markdown(card))


def probe_summary(probes):
    """Layers × (task metric, model) DataFrame of probe records: r2 for mfcc, macro F1 for the classifiers."""
    import pandas as pd

    table = pd.DataFrame(probes)
    main = table[(table["task"] == "mfcc") | (table["metric"] == "macro_f1")]
    wide = main.pivot_table(index="layer", columns=["task", "model"], values="value")
    return wide.reindex(columns=sorted(wide.columns, key=lambda c: (c[0] != "mfcc", c[0], c[1] != "pretrained")))


def card_markdown(card: dict) -> str:
    """The card as Markdown: what it is, how it was made, how well it predicts, what its layers carry."""
    s, c = card["settings"], card["corpus"]
    lines = [
        f"# {card['name']}", "",
        f"A {s['family']} encoder ({s['num_layers']} layers, hidden {s['hidden_size']}, "
        f"{card['model']['parameters']:,} parameters) pretrained by braintune on stand-in speech.", "",
        "Rebuilt by:", "", "```", card["command"], "```", "",
        f"Objective: {card['objective']}.", "",
        "## Corpus", "",
    ]
    if "generator" in c:
        lines += [f"{c['seconds'] / 3600:.2f} h of espeak-ng speech ({c['generator']}, seed {c['arguments']['seed']}): "
                  f"{c['speakers']} speakers over {len(c['accents'])} accents and {len(c['variants'])} voice variants, "
                  f"{c['rate_wpm'][0]}-{c['rate_wpm'][1]} words/min, pitch {c['pitch'][0]}-{c['pitch'][1]}; "
                  f"{c['validation_seconds']:.0f} s ({c['validation_recordings']} recordings) held out for validation. "
                  "Its text shares no content word with any probe set's text.", ""]
    else:
        lines += [f"{c['seconds'] / 3600:.2f} h from {c['folder']} ({c['recordings']} recordings).", ""]
    lines += ["## Recipe", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in s.items()]
    lines += ["", "## Masked prediction per epoch", "",
              f"Chance: {card['targets']['chance_accuracy']:.3f}; most frequent cluster: "
              f"{card['targets']['majority_share']:.3f} of frames.", "",
              "Loss: cross-entropy over masked frames. Accuracy: of the masked frames' clusters; unmasked: "
              "of the other frames' (a measure of the front end).", "",
              "| iteration | epoch | train loss | train accuracy | validation loss | validation accuracy "
              "| validation unmasked accuracy | seconds |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r['iteration']} | {r['epoch']} | {r['train_loss']:.3f} | {r['train_accuracy']:.3f} | "
              f"{r['validation_loss']:.3f} | {r['validation_accuracy']:.3f} | {r['validation_unmasked_accuracy']:.3f} "
              f"| {r['seconds']:.0f} |" for r in card["epochs"]]
    if card["probes"]:
        wide = probe_summary(card["probes"])
        lines += ["", "## Probes per layer", "",
                  "Stand-in TIMIT and Speech Commands (braintune.synthetic.corpora, default sizes), "
                  "braintune.probing.run_probes: MFCC R², word / phoneme / sentence-type macro F1; "
                  "random-init is the same config and seed, untrained.", "",
                  "| layer | " + " | ".join(f"{t} {m}" for t, m in wide.columns) + " |",
                  "| --- |" + " --- |" * len(wide.columns)]
        lines += [f"| {layer} | " + " | ".join(f"{v:.3f}" for v in row) + " |" for layer, row in wide.iterrows()]
    m = card["machine"]
    lines += ["", "## Cost", "",
              f"{card['wall_seconds'] / 60:.1f} min wall ({', '.join(f'{k}: {v:.0f} s' for k, v in card['timings_seconds'].items())}) "
              f"on {m['cpu']}, {m['threads']} thread(s), torch {m['torch']}, transformers {m['transformers']}.", ""]
    return "\n".join(lines)
