"""Run-folder steps of brain-tuning: start or resume a run, checkpoint each epoch, export.

Run folder (OUT):
    config.yaml          resolved run config (settings, data, subject, model, stories, voxels)
    voxels.npy           (targets,) int64 voxel (or vertex) index of each target (noise ceiling > threshold)
    owners.npy           (targets,) the participant of each target, where a variant pools several
    log.jsonl            one line per epoch (epoch 0 = before tuning): losses, validation r, lrs
    checkpoint.pt        after the last finished epoch: weights, optimiser, scheduler, epoch, log
    cnn_cache/           frozen CNN output per window (cnn_cache; deleted when the run
                         finishes unless keep_cnn_cache)
    backbone/            the tuned encoder, save_pretrained (safetensors): load_encoder(OUT/backbone)
    head.safetensors     the linear head: weight (voxels, hidden), bias (voxels,)

Every file is written atomically, and only by rank 0 (`writer`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import transformers
import yaml

from braintune.data.fmri import FMRIDataset, StorySplit
from braintune.errors import ConfigError, DataError
from braintune.io import write_atomic, write_atomic_with, write_folder_atomic
from braintune.models import normalizes_input
from braintune.settings import from_mapping, result_settings
from braintune.tuning.data import TuneData
from braintune.tuning.model import BrainTuner
from braintune.tuning.settings import TuneSettings

log = logging.getLogger(__name__)

IDENTITY = ("data", "subject", "model", "test_story", "validation_story", "train_stories")  # what names a run


def run_config(dataset: FMRIDataset, participants: list[str], splits: dict[str, StorySplit], model_source: str,
               settings: TuneSettings) -> dict:
    """The run's identity and settings, as config.yaml holds them: the participant tuned on and its
    stories, or, for several, the list of participants and each one's stories."""
    if len(participants) == 1:
        split = splits[participants[0]]
        stories = {"test_story": split.test, "validation_story": split.validation, "train_stories": list(split.train)}
        subject = participants[0]
    else:
        stories = {key: {p: value(splits[p]) for p in participants} for key, value in (
            ("test_story", lambda s: s.test), ("validation_story", lambda s: s.validation),
            ("train_stories", lambda s: list(s.train)))}
        subject = list(participants)
    return {"data": str(dataset.root), "subject": subject, "model": model_source, **stories,
            "settings": settings.to_dict()}


class RunFolder:
    """The files of one run in OUT (see the module docstring); only a `writer` writes them."""

    def __init__(self, root: str | os.PathLike, writer: bool = True):
        self.root = Path(root)
        self.writer = writer
        self.config = self.root / "config.yaml"
        self.log = self.root / "log.jsonl"
        self.checkpoint = self.root / "checkpoint.pt"
        self.cnn_cache = self.root / "cnn_cache"
        self.backbone = self.root / "backbone"

    def open(self, config: dict, resume: bool) -> bool:
        """Check that OUT may take this run; returns whether the run already finished.

        Without `resume` a folder holding a run is a ConfigError; with it, the folder's run
        must have the same identity and result-changing settings.
        """
        if (self.checkpoint.exists() or self.backbone.exists()) and not resume:
            raise ConfigError(f"{self.root}: already holds a brain-tuning run; pass resume to continue it, "
                              "or choose another folder")
        if resume and self.config.is_file():
            self._check_same_run(config)
        return resume and (self.backbone / "config.json").is_file()

    def _check_same_run(self, config: dict) -> None:
        try:
            saved = yaml.safe_load(self.config.read_text())
            saved_settings = saved["settings"]
        except (OSError, yaml.YAMLError, TypeError, KeyError) as exc:
            raise DataError(f"{self.config}: unreadable run config ({type(exc).__name__}); "
                            "move the folder away to start this run again") from None
        for key in IDENTITY:
            if saved.get(key) != config[key]:
                raise ConfigError(f"{self.config}: the run in this folder has {key} {saved.get(key)!r}, not {config[key]!r}")
        defaults = TuneSettings().to_dict()
        for key, value in result_settings(from_mapping(TuneSettings, config["settings"])).items():
            if saved_settings.get(key, defaults[key]) != value:
                raise ConfigError(f"{self.config}: the run in this folder has {key} = {saved_settings.get(key)!r}, "
                                  f"not {value!r}")

    def write_start(self, config: dict, data: TuneData) -> None:
        """config.yaml, voxels.npy (and owners.npy)."""
        if self.writer:
            self.root.mkdir(parents=True, exist_ok=True)
            write_atomic(self.config, yaml.safe_dump(config, sort_keys=False))
            write_atomic_with(self.root / "voxels.npy", lambda tmp: np.save(tmp, data.voxels))
            if data.owners is not None:
                write_atomic_with(self.root / "owners.npy", lambda tmp: np.save(tmp, data.owners.astype(str)))

    def write_log(self, records: list[dict]) -> None:
        """log.jsonl: one JSON line per record."""
        if self.writer:
            write_atomic(self.log, "".join(json.dumps(r) + "\n" for r in records))

    def save_checkpoint(self, epoch: int, net: BrainTuner, optimizer, scheduler, records: list[dict]) -> None:
        """checkpoint.pt after `epoch`: everything an exact resume needs. On a full disk the previous
        checkpoint stays and the error names the file and the free space (io.disk_full_error)."""
        if self.writer:
            state = {"epoch": epoch, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "log": records}
            write_atomic_with(self.checkpoint, lambda tmp: torch.save(state, tmp))

    def resume(self, net: BrainTuner, optimizer, scheduler, device: torch.device) -> list[dict]:
        """The resume step: load checkpoint.pt into net, optimiser and scheduler; returns its log
        (epochs 0..e), [] if there is no checkpoint. A checkpoint that cannot be read or does not
        fit this run is a DataError; nothing in the folder is changed."""
        if not self.checkpoint.is_file():
            return []
        how = "move it away to restart the run from epoch 1, or put back an intact copy"
        try:
            state = torch.load(self.checkpoint, map_location=device, weights_only=True)
            epoch, records = int(state["epoch"]), list(state["log"])
        except Exception as exc:  # noqa: BLE001 - whatever a damaged file raises: truncation, garbage, wrong content
            raise DataError(f"{self.checkpoint}: not a readable checkpoint ({type(exc).__name__}), truncated or "
                            f"damaged; {how}") from None
        try:
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (KeyError, ValueError, RuntimeError) as exc:
            raise DataError(f"{self.checkpoint}: does not fit this run's model or optimiser ({type(exc).__name__}); "
                            f"{how}") from None
        if len(records) != epoch + 1:
            raise DataError(f"{self.checkpoint}: holds epoch {epoch} but a log of {len(records)} epochs; {how}")
        log.info("resuming %s after epoch %d", self.root, epoch)
        return records

    def export(self, net: BrainTuner) -> None:
        """The export step: OUT/backbone (save_pretrained, safetensors; with LoRA the merged model
        and its adapter in backbone/adapter, braintune.tuning.lora.export_lora) and
        OUT/head.safetensors, each atomically."""
        if not self.writer:
            return

        def save(tmp: Path) -> None:
            net.backbone.save_pretrained(tmp)
            transformers.Wav2Vec2FeatureExtractor(do_normalize=normalizes_input(net.backbone)).save_pretrained(tmp)

        if hasattr(net.backbone, "peft_config"):  # a LoRA model: the merged weights and the adapter
            from braintune.tuning.lora import export_lora

            export_lora(net.backbone, self.backbone)
        else:
            write_folder_atomic(self.backbone, save)
        head = {k: v.detach().cpu().contiguous() for k, v in net.head.state_dict().items()}
        write_atomic(self.root / "head.safetensors", safetensors.torch.save(head))
        log.info("wrote the tuned backbone to %s", self.backbone)

    def drop_cnn_cache(self) -> None:
        """Delete OUT/cnn_cache (a finished run no longer needs it)."""
        if self.writer and self.cnn_cache.exists():
            shutil.rmtree(self.cnn_cache)
            log.info("deleted the CNN cache %s (keep_cnn_cache keeps it)", self.cnn_cache)
