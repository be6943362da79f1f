"""`braintune probe --model ID_OR_PATH --tasks ... --timit DIR --speech-commands DIR --out DIR`"""

from braintune.study.config import PROBE_TASKS

NAME = "probe"
HELP = "probe every layer of a model: MFCC, word identity, phonemes, sentence type (writes probes.csv/.parquet)"


def add_arguments(parser):
    parser.add_argument("--model", required=True,
                        help="hub id in the local cache, save_pretrained folder, or tiny:<family>")
    parser.add_argument("--tasks", nargs="+", choices=PROBE_TASKS, default=list(PROBE_TASKS),
                        help="probing tasks (default: all)")
    parser.add_argument("--timit", help="TIMIT root (holding TRAIN and TEST)")
    parser.add_argument("--speech-commands", help="Speech Commands v0.02 root (holding the list files)")
    parser.add_argument("--out", required=True, help="output folder for probes.csv and probes.parquet")
    parser.add_argument("--cache", help="feature cache folder (default: OUT/features)")
    parser.add_argument("--layers", nargs="+", type=int, help="layers to probe (default: all)")
    parser.add_argument("--segment-seconds", type=float, help="phoneme-probe segment length (default: whole utterance)")
    parser.add_argument("--frames-per-utterance", type=int, default=20,
                        help="frames drawn per TIMIT utterance for the MFCC probe (0: all; default 20)")
    parser.add_argument("--timit-test-set", choices=["test", "core-test"], default="test")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--seed", type=int, default=0)


def run(args):
    from braintune.probing import run_probes

    table = run_probes(args.model, args.tasks, timit_root=args.timit, speech_commands_root=args.speech_commands,
                       out_dir=args.out, cache_dir=args.cache, layers=args.layers, seed=args.seed,
                       segment_seconds=args.segment_seconds, frames_per_utterance=args.frames_per_utterance or None,
                       timit_test_set=args.timit_test_set, batch_size=args.batch_size, device=args.device)
    print(table.pivot_table(index="layer", columns=["task", "metric"], values="value").round(3).to_string())
    print(f"wrote {args.out}/probes.csv and probes.parquet")
