"""Brain-tuning one speech model on one participant, as a recipe of named steps:

    open the run folder   checkpoint.RunFolder.open      (new run, resume, or already finished)
    data                  data.load_data                 (target voxels, training / validation pairs)
    model                 model.build_model              (backbone with frozen CNN, linear head)
    optimiser, schedule   schedule.make_optimizer, make_scheduler
    CNN features          cache.CNNFeatures              (cooperative on-disk cache, or computed)
    resume                RunFolder.resume               (exact: weights, optimiser, schedule, log)
    one epoch             loop.train_epoch
    validation            loop.validate
    checkpoint            RunFolder.save_checkpoint      (after every epoch)
    export                RunFolder.export               (backbone/, head.safetensors), drop the CNN cache

Under torch.distributed.run every process calls `tune` (see braintune.tuning.distributed;
`python -m torch.distributed.run --nproc-per-node N -m braintune.tuning SPEC.json`, see
braintune.tuning.ddp); only rank 0 writes the run folder.
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from braintune.data.ds003020 import Dataset, StorySplit, resolve_split
from braintune.models import resolve_device
from braintune.tuning import distributed
from braintune.tuning.cache import CNNFeatures
from braintune.tuning.checkpoint import RunFolder, run_config
from braintune.tuning.data import load_data
from braintune.tuning.distributed import Process
from braintune.tuning.loop import train_epoch, validate
from braintune.tuning.model import build_model
from braintune.tuning.schedule import make_optimizer, make_scheduler
from braintune.tuning.settings import TuneSettings

log = logging.getLogger(__name__)


def tune(
    data: str | os.PathLike | Dataset,
    subject: str,
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: TuneSettings = TuneSettings(),
    *,
    split: StorySplit | None = None,
    resume: bool = False,
    stop_after_epoch: int | None = None,
) -> Path:
    """Brain-tune `model` on `subject`'s responses; returns OUT/backbone (load_encoder accepts it).

    data: a ds003020-layout folder or Dataset. model: anything load_encoder accepts.
    split: the stories that train, validate and hold out (braintune.data.ds003020.resolve_split);
        default: the subject's own stories under SplitSettings() defaults.
    resume: continue the run in `out_dir` from its checkpoint (a finished run returns at once);
        without it, a folder that already holds a run is an error.
    stop_after_epoch: end this invocation after that epoch, leaving the checkpoint for a
        later resume (for job time limits); the backbone is exported only at the end.
    """
    dataset = data if isinstance(data, Dataset) else Dataset(data)
    split = split or resolve_split(dataset, [subject])[subject]
    process = distributed.start(resolve_device(settings.device))
    try:
        return _tune(dataset, subject, split, str(model), Path(out_dir), settings, process, resume, stop_after_epoch)
    finally:
        process.close()


def _tune(dataset: Dataset, subject: str, split: StorySplit, model_source: str, out: Path, settings: TuneSettings,
          process: Process, resume: bool, stop_after_epoch: int | None) -> Path:
    run = RunFolder(out, writer=process.is_main)
    config = run_config(dataset, subject, split, model_source, settings)
    if run.open(config, resume):
        log.info("%s: brain-tuning already finished", out)
        if not settings.keep_cnn_cache:
            run.drop_cnn_cache()
        return run.backbone

    data = load_data(dataset, subject, split, settings)
    run.write_start({**config, "n_voxels": len(data.voxels), "n_train_pairs": len(data.train),
                     "n_validation_pairs": len(data.validation)}, data.voxels)
    log.info(
        "brain-tuning %s on %s: %d voxels (ceiling > %g, median %.2f), %d training windows from %d stories, "
        "%d validation windows (%s)%s",
        model_source, subject, len(data.voxels), settings.ceiling_threshold, float(np.median(data.ceilings)),
        len(data.train), len(split.train), len(data.validation), split.validation,
        "; control: training pairs shuffled" if settings.shuffle_pairs else "",
    )

    net = build_model(model_source, len(data.voxels), settings, process.device)
    distributed.broadcast_parameters(process, net)
    optimizer = make_optimizer(net, settings)
    scheduler = make_scheduler(optimizer, settings, math.ceil(len(data.train) / settings.batch_size))
    features = {
        name: CNNFeatures(net, pairs, process, model_source,
                          run.cnn_cache / f"{name}.npy" if settings.cnn_cache else None, settings.micro_batch_size)
        for name, pairs in (("train", data.train), ("validation", data.validation))
    }
    records = run.resume(net, optimizer, scheduler, process.device) if resume else []

    def finish_epoch(epoch: int, train_loss: float | None, seconds: float) -> None:
        """Validate, log the epoch and (after a training epoch) checkpoint it."""
        val_loss, val_r = validate(net, features["validation"], data.validation.targets, settings, process)
        backbone_lr, head_lr = (group["lr"] for group in optimizer.param_groups)
        records.append({"epoch": epoch, "train_loss": train_loss, "validation_loss": val_loss, "validation_r": val_r,
                        "backbone_lr": backbone_lr, "head_lr": head_lr, "seconds": round(seconds, 3)})
        if process.is_main:
            shown = "-" if train_loss is None else f"{train_loss:.4f}"
            log.info("epoch %d/%d: train loss %s, validation loss %.4f, r %.4f (%.1f s)",
                     epoch, settings.epochs, shown, val_loss, val_r, seconds)
        run.write_log(records)
        if epoch > 0:
            run.save_checkpoint(epoch, net, optimizer, scheduler, records)
        process.barrier()

    if not records:
        finish_epoch(0, None, 0.0)
    last_epoch = settings.epochs if stop_after_epoch is None else min(settings.epochs, stop_after_epoch)
    for epoch in range(len(records), last_epoch + 1):
        start = time.perf_counter()
        train_loss = train_epoch(net, optimizer, scheduler, features["train"], data.train.targets, settings, process,
                                 epoch)
        finish_epoch(epoch, train_loss, time.perf_counter() - start)

    if last_epoch < settings.epochs:
        log.info("stopped after epoch %d of %d; resume to continue", last_epoch, settings.epochs)
        return run.backbone
    run.export(net)
    process.barrier()
    if not settings.keep_cnn_cache:
        run.drop_cnn_cache()
    return run.backbone
