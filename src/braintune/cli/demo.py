"""`braintune demo`: a whole study on simulated data with the shipped small pretrained models."""

NAME = "demo"
HELP = "run the whole study on simulated participants and stand-in corpora with the shipped small pretrained models"


def add_arguments(parser):
    from braintune.demo import STUDIES

    parser.add_argument("--out", default=None, help="folder for the data and the run (default: demo-run, or "
                                                    "demo-run/<study> for another study)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override the study config's values")
    parser.add_argument("--small", action="store_true", help="a smaller simulated dataset (for quick checks)")
    parser.add_argument("--study", default="demo", choices=sorted(STUDIES),
                        help="demo: the paper's Figures 1 and 2 (configs/demo.yaml); data-efficiency: alignment "
                             "against the number of a participant's training stories (configs/data-efficiency-demo.yaml)")


def run(args):
    from braintune.demo import STUDIES, run_demo

    out = args.out or ("demo-run" if args.study == "demo" else f"demo-run/{args.study}")
    run_dir = run_demo(out, args.overrides, size="small" if args.small else "default", study=args.study)
    print(f"\nThe {args.study} study ran on {STUDIES[args.study]['participants']} simulated participants "
          f"(configs/{STUDIES[args.study]['config']}.yaml).")
    print(f"tables:  {run_dir / 'tables'}")
    print(f"figures: {run_dir / 'figures'}")
    print(f"report:  {run_dir / 'report.html'}  (open it in a browser)")
