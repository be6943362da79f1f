"""`braintune simulate-speech-commands OUT`: a Speech-Commands-layout stand-in spoken by espeak-ng."""

NAME = "simulate-speech-commands"
HELP = "write a stand-in Speech Commands v0.02 corpus (35 words, list files) spoken by espeak-ng voices"
GENERATOR = ("braintune.synthetic.corpora", "simulate_speech_commands")
FLAGS = {  # generator parameter -> help
    "speakers": "voices; each says every word once",
    "validation_speakers": "speakers listed in validation_list.txt",
    "test_speakers": "speakers listed in testing_list.txt",
    "seed": "random seed",
}


def add_arguments(parser):
    from braintune.cli._generators import generator_defaults

    defaults = generator_defaults(*GENERATOR)
    parser.add_argument("out", help="output folder")
    for name, help_text in FLAGS.items():
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=defaults[name],
                            help=f"{help_text} (default {defaults[name]})")


def run(args):
    from braintune.synthetic.corpora import simulate_speech_commands

    out = simulate_speech_commands(args.out, **{name: getattr(args, name) for name in FLAGS})
    print(f"wrote a stand-in Speech Commands corpus in {out}")
