"""`pretrain`: a pretraining run from corpus to card, in a run folder that a rerun resumes.

Run folder (`pretrain(out, ...)`):
```
OUT/run.json             settings, corpus, recordings; written first: a rerun with other settings, or
                         a non-empty OUT without it, is refused
OUT/corpus/              the stand-in corpus (braintune.synthetic.speech_corpus), unless one is given
OUT/targets-<i>.npz      masked prediction, iteration i: cluster label of every frame (recordings
                         concatenated), centroids
OUT/checkpoint.pt        after every epoch: model, head, optimiser, schedule, log (resume point)
OUT/log.jsonl            per epoch: train and validation losses and accuracies (objectives.summary)
OUT/timings.json         wall seconds of each step (summed over resumed runs)
OUT/probe-data/          stand-in TIMIT and Speech Commands for the evaluation probes
OUT/probe-features/      their cached layer features (braintune.probing)
OUT/random-init/         the same config and seed, untrained (the probes' baseline)
OUT/probes.csv|parquet   probes per layer of the pretrained and the random-init model
OUT/model/               save_pretrained folder of the encoder + preprocessor_config.json + card.json + card.md
```
The MFCC targets (the MFCC probe's frames), the evaluation (evaluate_probes) and the stand-in
corpora come from the probing stage and braintune.synthetic.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from braintune.errors import ConfigError, DataError
from braintune.io import write_atomic, write_atomic_with, write_table
from braintune.models.encoders import load_encoder
from braintune.pretraining.card import write_card
from braintune.pretraining.corpus import cluster_targets, layer_features, load_corpus, mfcc_features
from braintune.pretraining.model import build_model, save_encoder
from braintune.pretraining.settings import PretrainSettings
from braintune.pretraining.training import _Timer, train_iteration

log = logging.getLogger(__name__)


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
    if settings.training_objective == "contrastive":
        first, targets = 1, None  # Wav2Vec2ForPreTraining quantises its own targets
    elif settings.teacher:
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
    saved["settings"] = {**_defaults_since(saved["settings"], run["settings"]), **saved["settings"]}
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


def _defaults_since(saved: dict, settings: dict) -> dict:
    """The settings absent from a run.json written before they existed, where the current run has them at
    their defaults (the value they had then)."""
    defaults = {f.name: f.default for f in dataclasses.fields(PretrainSettings)}
    return {k: v for k, v in settings.items() if k not in saved and k in defaults and v == defaults[k]}


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


