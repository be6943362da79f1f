"""`braintune check DATA [--layout NAME] [--timit DIR] [--speech-commands DIR]`: the data doctor, no model needed.

Exit status 1 if any error was found, 0 otherwise (warnings allowed).
"""

NAME = "check"
HELP = "check an fMRI folder and the probe corpora without any model: every problem as one line naming the file"


def add_arguments(parser):
    from braintune.cli._data import add_corpus_arguments
    from braintune.data.check import CheckSettings
    from braintune.data.fmri import DEFAULT_LAYOUT, LAYOUTS, SplitSettings
    from braintune.settings import add_arguments as add_owner

    parser.add_argument("data", nargs="?", help="fMRI dataset folder (ds003020: stimuli/, derivative/)")
    parser.add_argument("--layout", default=DEFAULT_LAYOUT, choices=sorted(LAYOUTS),
                        help=f"on-disk layout of DATA (default: {DEFAULT_LAYOUT})")
    add_corpus_arguments(parser)
    parser.add_argument("--json", metavar="FILE", help="also write the findings to FILE as JSON")
    add_owner(parser.add_argument_group("check"), CheckSettings)
    add_owner(parser.add_argument_group("stories (whose split is checked)"), SplitSettings)


def run(args):
    from braintune.cli._data import corpus_folders
    from braintune.data.check import CheckSettings, check_data, findings_json, format_findings
    from braintune.data.fmri import SplitSettings
    from braintune.io import write_atomic
    from braintune.settings import from_arguments

    found = check_data(args.data, corpus_folders(args), from_arguments(CheckSettings, args),
                       from_arguments(SplitSettings, args), layout=args.layout)
    print(format_findings(found))
    if args.json:
        write_atomic(args.json, findings_json(found))
    return 1 if found.errors else 0
