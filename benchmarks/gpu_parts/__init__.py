"""The parts of benchmarks/gpu.py, one module per concern (run benchmarks/gpu.py, not these).

    sizes.py       Measure (what is timed) and StudySizes (the study the projection assumes)
    machine.py     device clocks and peak memory, the machine's description, models and synthetic audio
    extraction.py  1. feature extraction of each scheme
    tuning.py      2. brain-tuning, full and LoRA, through braintune.tuning's own steps
    probing.py     3. the probing extraction and the CPU probe fits
    ridge.py       4. one layer's ridge by the study's protocol
    projection.py  5. the projected wall time of a study
    report.py      the printed tables
"""
