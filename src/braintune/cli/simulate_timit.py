"""`braintune simulate-timit OUT`: a TIMIT-layout stand-in corpus spoken by espeak-ng."""

NAME = "simulate-timit"
HELP = "write a stand-in TIMIT corpus (SPHERE .WAV, .PHN, .WRD, .TXT) spoken by espeak-ng voices"
GENERATOR = ("braintune.synthetic.corpora", "simulate_timit")
FLAGS = {  # generator parameter -> help
    "train_speakers": "training speakers",
    "test_speakers": "test speakers, named from the core test set (up to 24)",
    "sx_per_speaker": "SX sentences each speaker reads",
    "si_per_speaker": "SI sentences each speaker reads",
    "seed": "random seed",
}


def add_arguments(parser):
    from braintune.cli._generators import generator_defaults

    defaults = generator_defaults(*GENERATOR)
    parser.add_argument("out", help="output folder (TRAIN/ and TEST/ are created in it)")
    for name, help_text in FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=defaults[name],
                            help=f"{help_text} (default {defaults[name]})")


def run(args):
    from braintune.synthetic.corpora import simulate_timit

    out = simulate_timit(args.out, **{name: getattr(args, name) for name in FLAGS})
    print(f"wrote a stand-in TIMIT corpus in {out}")
