"""`braintune run STUDY.yaml [key=value ...]`"""

NAME = "run"
HELP = "run a whole study (tune, align, probe, report) from a YAML config; cached cells are reused"


def add_arguments(parser):
    from braintune.study.executors.settings import NAMES as EXECUTORS

    parser.add_argument("config", help="study config (YAML), e.g. configs/demo.yaml")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="override config values, e.g. tune.epochs=5 participants=[UTS01]")
    parser.add_argument("--executor", choices=EXECUTORS,
                        help="where cells run (default: the config's executor.name)")


def run(args):
    from braintune.study.config import load_config
    from braintune.study.runner import run_study

    cfg = load_config(args.config, args.overrides)
    run_dir = run_study(cfg, executor=args.executor)
    report = run_dir / "report.html"
    print(f"study {cfg.name} finished: {run_dir}")
    if report.exists():
        print(f"report: {report}")
