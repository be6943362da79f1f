"""`braintune probe --model ID_OR_PATH --tasks ... --timit DIR --speech-commands DIR --out DIR`"""

NAME = "probe"
HELP = "probe every layer of a model: MFCC, word identity, phonemes, sentence type (writes probes.csv/.parquet)"


def add_arguments(parser):
    from braintune.cli._data import add_corpus_arguments
    from braintune.probing.settings import ProbeSettings
    from braintune.settings import add_arguments as add_owner

    parser.add_argument("--model", required=True,
                        help="hub id in the local cache, save_pretrained folder, or tiny:<family>")
    add_corpus_arguments(parser)
    parser.add_argument("--out", required=True, help="output folder for probes.csv and probes.parquet")
    parser.add_argument("--cache", help="feature cache folder (default: OUT/features)")
    parser.add_argument("--layers", nargs="+", default=["all"], help="'all' (default) or layer indices")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation speakers and frame draws (default: 0)")
    add_owner(parser.add_argument_group("probes"), ProbeSettings)


def run(args):
    from braintune.probing import ProbeSettings, run_probes
    from braintune.settings import from_arguments

    table = run_probes(args.model, timit_root=args.timit, speech_commands_root=args.speech_commands,
                       out_dir=args.out, cache_dir=args.cache, layers=args.layers,
                       settings=from_arguments(ProbeSettings, args), seed=args.seed, device=args.device)
    print(table.pivot_table(index="layer", columns=["task", "metric"], values="value").round(3).to_string())
    print(f"wrote {args.out}/probes.csv and probes.parquet")
