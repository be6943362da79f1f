"""The probe corpora braintune reads, listed once: their names (a study's `data.<name>`, the
`--<name>` flags), what their folders hold, and the module of their data-doctor checks."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeCorpus:
    """One probe corpus. name: its one spelling (config key data.<name>; flag --<name with dashes>);
    title: in messages; folder: what its folder holds (help text); checks: the module whose
    check(found, root, full, progress, **options) and summary_lines(info) serve `braintune check`."""

    name: str
    title: str
    folder: str
    checks: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check_module(self):
        return importlib.import_module(self.checks)


PROBE_CORPORA = {c.name: c for c in (
    ProbeCorpus("timit", "TIMIT", "TIMIT root (holding TRAIN and TEST, the original LDC93S1 layout)",
                "braintune.data.timit_check"),
    ProbeCorpus("speech_commands", "Speech Commands", "Speech Commands v0.02 root (word folders and the list files)",
                "braintune.data.speech_commands_check"),
)}
