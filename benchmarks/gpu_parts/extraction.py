"""1. Feature extraction: seconds of story per second of each scheme (braintune.features.extract)."""

from __future__ import annotations

import numpy as np
import torch

from braintune.data.audio import SAMPLE_RATE, to_samples
from braintune.features import Scheme
from braintune.features.settings import SCHEMES
from braintune.settings import to_dict

from gpu_parts.machine import peak_gib, reset_peak, timed

BASELINE = Scheme().scheme  # the default scheme (the paper's: one causal window per step): slow, timed on the start


def schemes_to_time(study: Scheme, dtype: str) -> dict[str, Scheme]:
    """label -> Scheme: every scheme of features.settings.SCHEMES (defaults, `dtype`), and the study's
    `features` scheme as "study" if it is none of them."""
    schemes = {name: Scheme(name, dtype=dtype) for name in SCHEMES}
    if study not in schemes.values():
        schemes["study"] = study
    return schemes


def measure_extraction(model, audio: np.ndarray, schemes: dict[str, Scheme], baseline_seconds: float,
                       device: torch.device) -> list[dict]:
    """Seconds of story per second of each scheme, after a 2 s warm-up: the BASELINE scheme on the
    story's first `baseline_seconds`, the others on the whole story (its start, where windows are
    shorter, included). audio: (samples,) float32 at 16 kHz."""
    from braintune.features import extract

    rows = []
    for label, scheme in schemes.items():
        story = audio[: to_samples(baseline_seconds)] if scheme.scheme == BASELINE else audio
        extract(model, audio[: 2 * SAMPLE_RATE], scheme, progress=False)
        reset_peak(device)
        _, seconds = timed(device, lambda: extract(model, story, scheme, progress=False))
        rows.append({"scheme": label, "settings": to_dict(scheme), "story_s": len(story) / SAMPLE_RATE,
                     "seconds": seconds, "rate": len(story) / SAMPLE_RATE / seconds, "peak_gib": peak_gib(device)})
    return rows
