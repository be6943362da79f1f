"""`braintune pretrain`: pretrain a small speech encoder by HuBERT's masked prediction or
wav2vec 2.0's contrastive objective (each family's own by default).

    braintune pretrain --out runs/pretrain                  # stand-in corpus, the shipped HuBERT recipe
    braintune pretrain --out runs/w2v --family wav2vec2      # wav2vec 2.0's objective (Wav2Vec2ForPreTraining)
    braintune pretrain --out runs/mine --corpus DIR --epochs 20 --num-layers 8

A rerun of the same command resumes. Every field of PretrainSettings is a flag (--field-name).
"""

from __future__ import annotations

import argparse

NAME = "pretrain"
HELP = ("pretrain a small speech encoder (HuBERT masked prediction, wav2vec 2.0 contrastive); "
        "writes OUT/model with its card")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from braintune.pretraining import PretrainSettings
    from braintune.settings import add_arguments as add_owner

    parser.add_argument("--out", required=True,
                        help="run folder: new or empty, or resumed if it holds the same run; model in OUT/model")
    parser.add_argument("--corpus", help="folder of recordings (WAV/FLAC/SPHERE) to pretrain on "
                                         "(default: generate the stand-in corpus in OUT/corpus)")
    parser.add_argument("--no-probes", action="store_true", help="skip the probes of the card")
    parser.add_argument("--stop-after-epoch", type=int, metavar="N", help="stop after N epochs (rerun to resume)")
    add_owner(parser.add_argument_group("settings (PretrainSettings)"), PretrainSettings)


def run(args: argparse.Namespace) -> int:
    from braintune.pretraining import PretrainSettings, pretrain
    from braintune.settings import from_arguments

    settings = from_arguments(PretrainSettings, args)
    print(pretrain(args.out, settings, args.corpus, probes=not args.no_probes, stop_after_epoch=args.stop_after_epoch))
    return 0
