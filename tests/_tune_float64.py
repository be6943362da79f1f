"""`python -m braintune.tuning SPEC.json` with the encoder in float64, for tests/test_tuning.py:

    python tests/_tune_float64.py SPEC.json                       (one process)
    python -m torch.distributed.run ... tests/_tune_float64.py SPEC.json   (DDP)

float64 leaves rounding far below what a wrong update changes, so runs that should take
the same steps can be compared at float64 precision on any CPU and thread count.
"""

import sys

import braintune.tuning.model as model_step
from braintune.tuning.__main__ import main

build_model = model_step.build_model
model_step.build_model = lambda *args, **kwargs: build_model(*args, **kwargs).double()  # LoRA's adapters too
sys.exit(main(sys.argv[1:]))
