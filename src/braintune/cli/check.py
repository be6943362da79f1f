"""`braintune check DATA [--timit DIR] [--speech-commands DIR]`: the data doctor, no model needed.

Exit status 1 if any error was found, 0 otherwise (warnings allowed).
"""

NAME = "check"
HELP = "check a ds003020 folder and the probe corpora without any model: every problem as one line naming the file"


def add_arguments(parser):
    from braintune.data.check import CheckSettings
    from braintune.data.ds003020 import SplitSettings
    from braintune.settings import add_arguments as add_owner

    parser.add_argument("data", nargs="?", help="ds003020-layout folder (stimuli/, derivative/)")
    parser.add_argument("--timit", help="TIMIT root (holding TRAIN and TEST)")
    parser.add_argument("--speech-commands", help="Speech Commands v0.02 root (holding the list files)")
    parser.add_argument("--json", metavar="FILE", help="also write the findings to FILE as JSON")
    add_owner(parser.add_argument_group("check"), CheckSettings)
    add_owner(parser.add_argument_group("stories (whose split is checked)"), SplitSettings)


def run(args):
    from braintune.data.check import CheckSettings, check_data, findings_json, format_findings
    from braintune.data.ds003020 import SplitSettings
    from braintune.io import write_atomic
    from braintune.settings import from_arguments

    found = check_data(args.data, args.timit, args.speech_commands, from_arguments(CheckSettings, args),
                       from_arguments(SplitSettings, args))
    print(format_findings(found))
    if args.json:
        write_atomic(args.json, findings_json(found))
    return 1 if found.errors else 0
