"""`braintune demo`: the whole study on simulated data with the shipped small pretrained model."""

NAME = "demo"
HELP = "run the whole study on simulated participants and stand-in corpora with the shipped small pretrained model"


def add_arguments(parser):
    parser.add_argument("--out", default="demo-run", help="folder for the data and the run (default: demo-run)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override configs/demo.yaml values")
    parser.add_argument("--small", action="store_true", help="a smaller simulated dataset (for quick checks)")


def run(args):
    from braintune.demo import run_demo

    run_dir = run_demo(args.out, args.overrides, size="small" if args.small else "default")
    print("\nThe demo study ran: 2 simulated participants, the shipped small HuBERT (tiny-pretrained:hubert), "
          "pretrained, brain-tuned and control.")
    print(f"tables:  {run_dir / 'tables'}")
    print(f"figures: {run_dir / 'figures'}")
    print(f"report:  {run_dir / 'report.html'}  (open it in a browser)")
