"""Brain-tuning one speech model on one participant: the training loop, checkpoints, export.

Run folder (OUT):
    config.yaml          resolved run config (settings, data, subject, model, voxels)
    voxels.npy           (voxels,) int64 indices of the target voxels (noise ceiling > threshold)
    log.jsonl            one line per epoch (epoch 0 = before tuning): losses, validation r, lrs
    checkpoint.pt        after the last finished epoch: weights, optimiser, scheduler, epoch, log
    cnn_cache/           frozen CNN output per window (settings.cnn_cache = "disk")
    backbone/            the tuned encoder, save_pretrained (safetensors): load_encoder(OUT/backbone)
    head.safetensors     the linear head: weight (voxels, hidden), bias (voxels,)

Reproducibility: the order of the training windows in epoch e is a permutation drawn from
numpy.random.default_rng([seed, e]); torch, numpy and python RNGs (dropout, time masking,
layer drop) are reseeded from (seed, epoch, rank) at the start of every epoch. So a run
resumed from the checkpoint of epoch e continues exactly as the uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import transformers
import yaml

from braintune.data.ds003020 import Dataset
from braintune.encoding import noise_ceiling
from braintune.errors import ConfigError, DataError
from braintune.io import write_atomic, write_atomic_with
from braintune.models import freeze_feature_encoder, load_encoder, model_input, normalizes_input, resolve_device
from braintune.progress import tqdm
from braintune.tuning import distributed
from braintune.tuning.cache import build_cnn_cache, cached_batch
from braintune.tuning.model import BrainTuner
from braintune.tuning.pairs import Pairs, story_pairs
from braintune.tuning.schedule import make_scheduler
from braintune.tuning.settings import TuneSettings

log = logging.getLogger(__name__)

# Settings that may change when a run is resumed: they do not change what is computed.
RESUMABLE_CHANGES = ("micro_batch_size", "cnn_cache", "gradient_checkpointing", "device")


def select_voxels(dataset: Dataset, subject: str, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Voxels whose noise ceiling (test story's repeats) exceeds `threshold`.

    -> (indices (voxels,) int64, their ceilings (voxels,) float32)
    """
    ceiling = noise_ceiling(dataset.load_repeats(subject))
    indices = np.flatnonzero(ceiling > threshold).astype(np.int64)
    if len(indices) == 0:
        raise DataError(
            f"{dataset.root}: {subject} has no voxel with a noise ceiling above {threshold:g} "
            f"(highest: {ceiling.max():.3f}, from the repeats of {dataset.test_story!r}); lower ceiling_threshold"
        )
    return indices, ceiling[indices]


def tune(
    data: str | os.PathLike | Dataset,
    subject: str,
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: TuneSettings = TuneSettings(),
    *,
    resume: bool = False,
    stop_after_epoch: int | None = None,
) -> Path:
    """Brain-tune `model` on `subject`'s responses; returns OUT/backbone (load_encoder accepts it).

    data: a ds003020-layout folder or Dataset. model: anything load_encoder accepts.
    resume: continue the run in `out_dir` from its checkpoint (a finished run returns at once);
        without it, a folder that already holds a run is an error.
    stop_after_epoch: end this invocation after that epoch, leaving the checkpoint for a
        later resume (for job time limits); the backbone is exported only at the end.
    Launched by torchrun, every process calls this; only rank 0 writes the run folder.
    """
    out = Path(out_dir)
    dataset = data if isinstance(data, Dataset) else Dataset(data)
    process = distributed.start(resolve_device(settings.device))
    try:
        return _tune(dataset, subject, str(model), out, settings, process, resume, stop_after_epoch)
    finally:
        process.close()


def _tune(dataset, subject, model_source, out, settings, process, resume, stop_after_epoch) -> Path:
    backbone_dir = out / "backbone"
    checkpoint_path = out / "checkpoint.pt"
    config = _run_config(dataset, subject, model_source, settings)
    if (checkpoint_path.exists() or backbone_dir.exists()) and not resume:
        raise ConfigError(f"{out}: already holds a brain-tuning run; pass resume to continue it, or choose another folder")
    if resume and (out / "config.yaml").is_file():
        _check_same_run(out / "config.yaml", config)
    if resume and (backbone_dir / "config.json").is_file():
        log.info("%s: brain-tuning already finished", out)
        return backbone_dir

    stories = dataset.stories_of(subject)
    validation = config["validation_story"]
    if validation not in stories:
        raise DataError(f"{dataset.root}: {subject} has no response file for the validation story {validation!r}")
    train_stories = [s for s in stories if s not in (dataset.test_story, validation)]
    if not train_stories:
        raise DataError(f"{dataset.root}: {subject} has no training stories besides {dataset.test_story!r} and {validation!r}")
    voxels, ceilings = select_voxels(dataset, subject, settings.ceiling_threshold)
    train = story_pairs(dataset, subject, train_stories, voxels, settings.window_seconds)
    valid = story_pairs(dataset, subject, [validation], voxels, settings.window_seconds)
    config.update(train_stories=train_stories, n_voxels=len(voxels), n_train_pairs=len(train), n_validation_pairs=len(valid))
    if process.is_main:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(out / "config.yaml", yaml.safe_dump(config, sort_keys=False))
        write_atomic_with(out / "voxels.npy", lambda tmp: np.save(tmp, voxels))
    log.info(
        "brain-tuning %s on %s: %d voxels (ceiling > %g, median %.2f), %d training windows from %d stories, "
        "%d validation windows (%s)",
        model_source, subject, len(voxels), settings.ceiling_threshold, float(np.median(ceilings)),
        len(train), len(train_stories), len(valid), validation,
    )

    torch.manual_seed(settings.seed)
    backbone = load_encoder(model_source, dtype="float32", device=process.device)
    freeze_feature_encoder(backbone)
    if settings.gradient_checkpointing:
        backbone.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    net = BrainTuner(backbone, len(voxels)).to(process.device)
    distributed.broadcast_parameters(process, net)
    trainable = [p for p in net.backbone.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(
        [{"params": trainable, "lr": settings.backbone_lr}, {"params": list(net.head.parameters()), "lr": settings.head_lr}]
    )
    steps_per_epoch = math.ceil(len(train) / settings.batch_size)
    scheduler = make_scheduler(optimizer, settings, steps_per_epoch)

    def prepare(waves: np.ndarray) -> torch.Tensor:
        return model_input(backbone, torch.from_numpy(waves).to(process.device))

    caches = {}
    if settings.cnn_cache == "disk":
        for name, pairs in (("train", train), ("validation", valid)):
            caches[name] = build_cnn_cache(
                net, pairs, out / "cnn_cache" / f"{name}.npy", model_source, process, prepare, settings.micro_batch_size
            )

    def cnn_features(name: str, pairs: Pairs, indices: np.ndarray) -> torch.Tensor:
        if name in caches:
            return cached_batch(caches[name], indices, process.device)
        return net.cnn(prepare(pairs.waveforms(indices))).float()

    records, first_epoch = [], 1
    if resume and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location=process.device, weights_only=True)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        records, first_epoch = list(state["log"]), state["epoch"] + 1
        log.info("resuming %s after epoch %d", out, state["epoch"])

    autocast = torch.autocast(process.device.type, dtype=torch.bfloat16, enabled=settings.bf16)
    targets = {"train": torch.from_numpy(train.targets), "validation": torch.from_numpy(valid.targets)}

    def validate() -> tuple[float, float]:
        """(MSE over pairs and voxels, mean Pearson r over voxels) on the validation story."""
        net.eval()
        stats = torch.zeros(7, len(voxels), dtype=torch.float64)  # n, Σy, Σp, Σy², Σp², Σyp, Σ(y-p)²
        mine = np.arange(process.rank, len(valid), process.world_size)
        with torch.no_grad(), autocast:
            for i in range(0, len(mine), settings.micro_batch_size):
                idx = mine[i : i + settings.micro_batch_size]
                p = net(cnn_features("validation", valid, idx)).double().cpu()
                y = targets["validation"][idx].double()
                stats += torch.stack([torch.ones_like(y), y, p, y * y, p * p, y * p, (y - p) ** 2]).sum(dim=1)
        process.sum_(stats)
        n, sy, sp, syy, spp, syp, sse = stats
        cov = n * syp - sy * sp
        var = (n * syy - sy**2) * (n * spp - sp**2)
        r = torch.where(var > 0, cov / var.clamp_min(1e-300).sqrt(), torch.zeros_like(cov))
        return float(sse.sum() / n.sum()), float(r.mean())

    def log_epoch(epoch: int, train_loss: float | None, seconds: float) -> None:
        val_loss, val_r = validate()
        lrs = [group["lr"] for group in optimizer.param_groups]
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "validation_loss": val_loss,
            "validation_r": val_r,
            "backbone_lr": lrs[0],
            "head_lr": lrs[1],
            "seconds": round(seconds, 3),
        }
        records.append(record)
        if process.is_main:
            shown = "-" if train_loss is None else f"{train_loss:.4f}"
            log.info("epoch %d/%d: train loss %s, validation loss %.4f, r %.4f (%.1f s)",
                     epoch, settings.epochs, shown, val_loss, val_r, seconds)
            write_atomic(out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in records))

    if not records:
        log_epoch(0, None, 0.0)

    last_epoch = settings.epochs if stop_after_epoch is None else min(settings.epochs, stop_after_epoch)
    for epoch in range(first_epoch, last_epoch + 1):
        _reseed(settings.seed, epoch, process.rank)
        start = time.perf_counter()
        net.train()
        order = np.random.default_rng([settings.seed, epoch]).permutation(len(train))
        loss_sum = torch.zeros((), dtype=torch.float64, device=process.device)  # Σ per-pair MSE
        batches = range(0, len(order), settings.batch_size)
        for b in tqdm(batches, desc=f"epoch {epoch}", unit="step", disable=not process.is_main, leave=False):
            batch = order[b : b + settings.batch_size]
            mine = batch[process.rank :: process.world_size]
            for m in range(0, len(mine), settings.micro_batch_size):
                idx = mine[m : m + settings.micro_batch_size]
                features = cnn_features("train", train, idx)
                with autocast:
                    prediction = net(features)
                per_pair = ((prediction.float() - targets["train"][idx].to(process.device)) ** 2).mean(dim=1)
                (per_pair.sum() / len(batch)).backward()
                loss_sum += per_pair.detach().sum()
            distributed.sum_gradients(process, trainable + list(net.head.parameters()))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
        process.sum_(loss_sum)
        log_epoch(epoch, float(loss_sum) / len(train), time.perf_counter() - start)
        if process.is_main:
            checkpoint = {
                "epoch": epoch,
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "log": records,
            }
            write_atomic_with(checkpoint_path, lambda tmp: torch.save(checkpoint, tmp))
        process.barrier()

    if last_epoch < settings.epochs:
        log.info("stopped after epoch %d of %d; resume to continue", last_epoch, settings.epochs)
        return backbone_dir
    if process.is_main:
        _export(net, out)
    process.barrier()
    return backbone_dir


def _run_config(dataset: Dataset, subject: str, model_source: str, settings: TuneSettings) -> dict:
    validation = settings.validation_story or dataset.validation_story
    if validation is None:
        raise ConfigError("brain-tuning needs a validation story: set validation_story")
    return {
        "data": str(dataset.root),
        "subject": subject,
        "model": model_source,
        "test_story": dataset.test_story,
        "validation_story": validation,
        "settings": settings.to_dict(),
    }


def _check_same_run(path: Path, config: dict) -> None:
    saved = yaml.safe_load(path.read_text())
    for key in ("data", "subject", "model", "test_story", "validation_story"):
        if saved.get(key) != config[key]:
            raise ConfigError(f"{path}: the run in this folder has {key} {saved.get(key)!r}, not {config[key]!r}")
    for key, value in config["settings"].items():
        if key not in RESUMABLE_CHANGES and saved["settings"].get(key) != value:
            raise ConfigError(f"{path}: the run in this folder has {key} = {saved['settings'].get(key)!r}, not {value!r}")


def _reseed(seed: int, epoch: int, rank: int) -> None:
    state = np.random.SeedSequence([seed, epoch, rank]).generate_state(2)
    torch.manual_seed(int(state[0]))
    np.random.seed(int(state[1]))
    random.seed(int(state[1]))


def _export(net: BrainTuner, out: Path) -> None:
    """OUT/backbone (save_pretrained, safetensors) and OUT/head.safetensors, each atomically."""
    tmp = out / "backbone.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    net.backbone.save_pretrained(tmp)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=normalizes_input(net.backbone)).save_pretrained(tmp)
    shutil.rmtree(out / "backbone", ignore_errors=True)
    os.replace(tmp, out / "backbone")
    head = {k: v.detach().cpu().contiguous() for k, v in net.head.state_dict().items()}
    write_atomic(out / "head.safetensors", safetensors.torch.save(head))
    log.info("wrote the tuned backbone to %s", out / "backbone")
