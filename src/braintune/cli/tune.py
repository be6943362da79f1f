"""`braintune tune`: brain-tune a speech model on one participant's fMRI (or several, for a
variant that tunes one model for many).

    braintune tune --data DIR --subject UTS01 --model facebook/wav2vec2-base --out runs/UTS01
    torchrun --nproc-per-node 4 -m braintune tune ...   (data parallel over 4 processes)

(The library's own DDP entry is `python -m braintune.tuning SPEC.json`, see braintune.tuning.ddp.)
"""

from __future__ import annotations

import argparse
import os

NAME = "tune"
HELP = "brain-tune a speech model on a participant's fMRI responses"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from braintune.cli._data import add_fmri_arguments
    from braintune.data.fmri import SplitSettings
    from braintune.settings import add_arguments as add_owner
    from braintune.tuning.settings import TuneSettings

    add_fmri_arguments(parser)
    parser.add_argument("--subject", required=True, nargs="+",
                        help="participant, e.g. UTS01 (several for a variant that tunes one model for many)")
    parser.add_argument("--model", required=True, help="model folder, cached hub id, or tiny:<family>")
    parser.add_argument("--out", required=True, help="run folder to write")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--stop-after", type=int, metavar="EPOCH", help="stop after this epoch (resume later)")
    add_owner(parser.add_argument_group("tuning"), TuneSettings, skip=("participants",))
    add_owner(parser.add_argument_group("stories ('shared': heard by every participant in --data)"), SplitSettings)


def run(args: argparse.Namespace) -> int:
    from braintune.cli._data import open_fmri
    from braintune.data.fmri import SplitSettings, resolve_split
    from braintune.settings import from_arguments
    from braintune.tuning import TuneSettings, tune

    dataset = open_fmri(args)
    split = resolve_split(dataset, sorted({*dataset.participants, *args.subject}), from_arguments(SplitSettings, args))
    backbone = tune(dataset, args.subject, args.model, args.out, from_arguments(TuneSettings, args, skip=("participants",)),
                    split={p: split[p] for p in args.subject}, resume=args.resume, stop_after_epoch=args.stop_after)
    if os.environ.get("RANK", "0") == "0":
        print(backbone)
    return 0
