"""`python -m braintune.tuning SPEC.json` with the encoder in float64, for tests/test_tuning.py:

    python tests/_tune_float64.py SPEC.json                       (one process)
    python -m torch.distributed.run ... tests/_tune_float64.py SPEC.json   (DDP)

float64 leaves rounding far below what a wrong update changes, so runs that should take
the same steps can be compared at float64 precision on any CPU and thread count.
"""

import sys

import braintune.tuning.model as model_step
from braintune.models import load_encoder
from braintune.tuning.__main__ import main

model_step.load_encoder = lambda *args, **kwargs: load_encoder(*args, **kwargs).double()
sys.exit(main(sys.argv[1:]))
