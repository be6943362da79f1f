"""`braintune tune`: brain-tune a speech model on one participant's fMRI.

    braintune tune --data DIR --subject UTS01 --model facebook/wav2vec2-base --out runs/UTS01
    torchrun --nproc-per-node 4 -m braintune tune ...   (data parallel over 4 processes)
"""

from __future__ import annotations

import argparse
import dataclasses
import os

from braintune.tuning import TuneSettings

NAME = "tune"
HELP = "brain-tune a speech model on one participant's fMRI responses"

# setting -> help; flags are --setting-name, defaults from TuneSettings
_HELP = {
    "window_seconds": "seconds of audio ending at each response row",
    "ceiling_threshold": "target voxels: noise ceiling above this",
    "validation_story": "story held out for validation (default: the dataset's, 'stagefright')",
    "epochs": "passes over the training windows",
    "batch_size": "windows per optimiser step (over all micro-batches and processes)",
    "micro_batch_size": "windows per forward/backward (gradients accumulate to batch-size)",
    "backbone_lr": "Adam lr of the transformer (linear warm-up, then linear decay)",
    "warmup_epochs": "epochs of backbone lr warm-up",
    "head_lr": "Adam lr of the linear head",
    "head_lr_decay": "head lr factor per epoch",
    "head_lr_floor": "head lr never below this fraction of --head-lr",
    "seed": "seed of initialisation, data order, dropout",
    "cnn_cache": "cache the frozen CNN output per window on disk ('disk') or recompute ('off')",
    "device": "torch device (default: cuda if available, else cpu)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="ds003020-layout folder")
    parser.add_argument("--subject", required=True, help="participant, e.g. UTS01")
    parser.add_argument("--model", required=True, help="model folder, cached hub id, or tiny:<family>")
    parser.add_argument("--out", required=True, help="run folder to write")
    parser.add_argument("--config", help="YAML file of tuning settings (flags override it)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--stop-after", type=int, metavar="EPOCH", help="stop after this epoch (resume later)")
    parser.add_argument("--bf16", action="store_true", default=None, help="bfloat16 autocast")
    parser.add_argument("--gradient-checkpointing", action="store_true", default=None, help="save memory in backward")
    for field in dataclasses.fields(TuneSettings):
        if field.name in ("bf16", "gradient_checkpointing"):
            continue
        kind = str if field.name in ("validation_story", "device", "cnn_cache") else type(field.default)
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            type=kind,
            default=None,
            help=f"{_HELP[field.name]} (default {field.default})",
        )


def run(args: argparse.Namespace) -> int:
    from braintune.tuning import tune

    base = TuneSettings.from_yaml(args.config) if args.config else TuneSettings()
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(TuneSettings) if getattr(args, f.name) is not None}
    settings = dataclasses.replace(base, **overrides)
    backbone = tune(args.data, args.subject, args.model, args.out, settings, resume=args.resume, stop_after_epoch=args.stop_after)
    if os.environ.get("RANK", "0") == "0":
        print(backbone)
    return 0
