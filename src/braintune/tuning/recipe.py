"""Brain-tuning one speech model on one participant, as a recipe of named steps:

    open the run folder   checkpoint.RunFolder.open      (new run, resume, or already finished)
    data                  variant.load_data              (target voxels, training / validation pairs, mask)
    model                 variant.build_model            (backbone with frozen CNN, linear head)
    optimiser, schedule   schedule.make_optimizer, make_scheduler
    CNN features          cache.CNNFeatures              (cooperative on-disk cache, or computed)
    resume                RunFolder.resume               (exact: weights, optimiser, schedule, log)
    one epoch             loop.train_epoch
    validation            loop.validate
    checkpoint            RunFolder.save_checkpoint      (after every epoch)
    export                variant.export                 (backbone/, head.safetensors), drop the CNN cache

The variant (`settings.variant`, braintune.tuning.variants) decides the data, the model and the
export; the steps between are the same for every variant.

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

from braintune.data.fmri import DEFAULT_LAYOUT, FMRIDataset, StorySplit, open_dataset, resolve_split
from braintune.models import resolve_device
from braintune.tuning import distributed
from braintune.tuning.cache import CNNFeatures
from braintune.tuning.checkpoint import RunFolder, run_config
from braintune.tuning.distributed import Process
from braintune.tuning.loop import train_epoch, validate
from braintune.tuning.schedule import make_optimizer, make_scheduler
from braintune.tuning.settings import TuneSettings
from braintune.tuning.variants import get_variant

log = logging.getLogger(__name__)


def tune(
    data: str | os.PathLike | FMRIDataset,
    subject: str | list[str],
    model: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: TuneSettings = TuneSettings(),
    *,
    split: StorySplit | dict[str, StorySplit] | None = None,
    resume: bool = False,
    stop_after_epoch: int | None = None,
    layout: str = DEFAULT_LAYOUT,
    space=None,
) -> Path:
    """Brain-tune `model` on the responses of `subject` (one participant, or several for a variant
    that tunes one model for many); returns OUT/backbone (load_encoder accepts it).

    data: a dataset folder in `layout`, or an opened dataset. model: anything load_encoder accepts.
    split: the stories that train, validate and hold out (braintune.data.fmri.resolve_split): one
        participant's StorySplit, or participant -> StorySplit; default: each participant's own
        stories under SplitSettings() defaults.
    resume: continue the run in `out_dir` from its checkpoint (a finished run returns at once);
        without it, a folder that already holds a run is an error.
    stop_after_epoch: end this invocation after that epoch, leaving the checkpoint for a
        later resume (for job time limits); the backbone is exported only at the end.
    space: the common space's files (braintune.data.fsaverage.CommonSpace), for tune.head: common.
    """
    dataset = data if isinstance(data, FMRIDataset) else open_dataset(layout, data)
    participants = [subject] if isinstance(subject, str) else list(subject)
    if isinstance(split, StorySplit):
        split = {participants[0]: split}
    splits = split or resolve_split(dataset, participants)
    process = distributed.start(resolve_device(settings.device))
    try:
        return _tune(dataset, participants, splits, str(model), Path(out_dir), settings, process, resume,
                     stop_after_epoch, space)
    finally:
        process.close()


def _tune(dataset: FMRIDataset, participants: list[str], splits: dict[str, StorySplit], model_source: str, out: Path,
          settings: TuneSettings, process: Process, resume: bool, stop_after_epoch: int | None, space=None) -> Path:
    variant = get_variant(settings.variant)
    run = RunFolder(out, writer=process.is_main)
    config = run_config(dataset, participants, splits, model_source, settings)
    if run.open(config, resume):
        log.info("%s: brain-tuning already finished", out)
        if not settings.keep_cnn_cache:
            run.drop_cnn_cache()
        return run.backbone

    data = variant.load_data(dataset, participants, splits, settings, space)
    run.write_start({**config, "n_voxels": len(data.voxels), "n_train_pairs": len(data.train),
                     "n_validation_pairs": len(data.validation)}, data)
    log.info(
        "brain-tuning %s on %s: %d voxels (ceiling > %g, median %.2f), %d training windows from %d stories, "
        "%d validation windows (%s)%s",
        model_source, ", ".join(participants), len(data.voxels), settings.ceiling_threshold,
        float(np.median(data.ceilings)), len(data.train), len(data.train.stories), len(data.validation),
        ", ".join(data.validation.stories), "; control: training pairs shuffled" if settings.shuffle_pairs else "",
    )

    net = variant.build_model(model_source, data, settings, process.device)
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
    variant.export(run, net)
    process.barrier()
    if not settings.keep_cnn_cache:
        run.drop_cnn_cache()
    return run.backbone
