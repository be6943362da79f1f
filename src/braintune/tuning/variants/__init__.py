"""Tuning variants: what one tune cell trains. `tune.variant` picks one.

    single   one model per participant on its own responses (Moussa et al., ICLR 2025)
    multi    one model for several participants, batches mixing them, a head per participant
             (Moussa & Toneva, NeurIPS 2025; usually with tune.adapter: lora)

A variant (braintune.tuning.variants.base.TuningVariant) says whether it tunes one model per
participant, loads its data (pairs with a mask for the targets a sample lacks), builds its
model and exports a backbone that AutoModel.from_pretrained loads. A new variant is one module
here and one line in VARIANTS. This module imports nothing heavy: configs check names against it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from braintune.errors import ConfigError


@dataclass(frozen=True)
class Entry:
    """A variant as the registry lists it: whether it tunes one model per participant, and where
    its TuningVariant lives ("module:attribute", imported when a run needs it)."""

    per_participant: bool
    implementation: str


VARIANTS = {
    "single": Entry(per_participant=True, implementation="braintune.tuning.variants.single:VARIANT"),
    "multi": Entry(per_participant=False, implementation="braintune.tuning.variants.multi:VARIANT"),
}


def check_variant(name: str) -> str:
    """`name` if it is a known variant, else a ConfigError naming the known ones."""
    if name not in VARIANTS:
        raise ConfigError(f"variant: unknown tuning variant {name!r} (known: {', '.join(VARIANTS)})")
    return name


def per_participant(name: str) -> bool:
    """Whether variant `name` tunes one model per participant (else one for all tuning participants)."""
    return VARIANTS[check_variant(name)].per_participant


def get_variant(name: str):
    """The TuningVariant called `name`."""
    module, attribute = VARIANTS[check_variant(name)].implementation.split(":")
    return getattr(importlib.import_module(module), attribute)
