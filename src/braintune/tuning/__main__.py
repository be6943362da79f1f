"""`python -m torch.distributed.run --standalone --nproc-per-node N -m braintune.tuning SPEC.json`:
every process brain-tunes the run SPEC.json describes (see braintune.tuning.ddp)."""

from __future__ import annotations

import json
import logging
import sys

from braintune.errors import BraintuneError
from braintune.io import write_atomic


def main(argv: list[str] | None = None) -> int:
    from braintune.tuning.ddp import error_path, read_spec
    from braintune.tuning.recipe import tune

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        tune(**read_spec(argv[0]))
    except BraintuneError as exc:
        write_atomic(error_path(argv[0]), json.dumps({"type": type(exc).__name__, "message": str(exc)}))
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
