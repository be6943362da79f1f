"""`braintune simulate-timit OUT`: a TIMIT-layout stand-in corpus spoken by espeak-ng."""

NAME = "simulate-timit"
HELP = "write a stand-in TIMIT corpus (SPHERE .WAV, .PHN, .WRD, .TXT) spoken by espeak-ng voices"


def add_arguments(parser):
    parser.add_argument("out", help="output folder (TRAIN/ and TEST/ are created in it)")
    parser.add_argument("--train-speakers", type=int, default=8)
    parser.add_argument("--test-speakers", type=int, default=4, help="named from the core test set (up to 24)")
    parser.add_argument("--sx-per-speaker", type=int, default=3)
    parser.add_argument("--si-per-speaker", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)


def run(args):
    from braintune.synthetic.corpora import simulate_timit

    out = simulate_timit(args.out, args.train_speakers, args.test_speakers, args.sx_per_speaker,
                         args.si_per_speaker, seed=args.seed)
    print(f"wrote a stand-in TIMIT corpus in {out}")
