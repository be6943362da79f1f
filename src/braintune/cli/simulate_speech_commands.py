"""`braintune simulate-speech-commands OUT`: a Speech-Commands-layout stand-in spoken by espeak-ng."""

NAME = "simulate-speech-commands"
HELP = "write a stand-in Speech Commands v0.02 corpus (35 words, list files) spoken by espeak-ng voices"


def add_arguments(parser):
    parser.add_argument("out", help="output folder")
    parser.add_argument("--speakers", type=int, default=6, help="voices; each says every word once")
    parser.add_argument("--validation-speakers", type=int, default=1)
    parser.add_argument("--test-speakers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)


def run(args):
    from braintune.synthetic.corpora import simulate_speech_commands

    out = simulate_speech_commands(args.out, args.speakers, args.validation_speakers, args.test_speakers,
                                   seed=args.seed)
    print(f"wrote a stand-in Speech Commands corpus in {out}")
