"""`python -m braintune` (also what `torchrun -m braintune` runs)."""

import sys

from braintune.cli import main

sys.exit(main())
