"""The data doctor: check the folders a study reads, with the readers and no model.

``check_data`` (the ``braintune check`` command) reads everything: every participant's
response files (rows, voxels, the test story's repeats, NaN and constant voxels), the
stories' audio and word timings, the ROI files, the story split (braintune.data.fmri.check),
and the probe corpora (each corpus's checks beside its reader: braintune.data.corpora).
``require_study_data`` (``braintune run``, before its first cell) runs the cheap part of the
same checks on the files a study will read -- file headers and array shapes, no full reads
of the response arrays -- and raises a DataError naming the first problem.

Every problem is one line naming the file (braintune.data.findings).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from braintune.data.corpora import PROBE_CORPORA
from braintune.data.findings import Findings, findings_json, format_findings
from braintune.data.fmri import DEFAULT_LAYOUT, FMRIDataset, SplitSettings, StorySplit, open_dataset
from braintune.data.fmri import check as fmri_check
from braintune.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["CheckSettings", "Findings", "check_data", "findings_json", "format_findings", "require_study_data",
           "summary_lines"]


@dataclass(frozen=True)
class CheckSettings:
    """What `braintune check` reads."""

    participants: list[str] | None = field(default=None, metadata={
        "help": "participants to check; none: every participant with responses"})
    quick: bool = field(default=False, metadata={
        "help": "headers and array shapes only, as `braintune run` checks before its first cell "
                "(no NaN/constant voxel counts, no decoding, no cortex files)"})
    atlas: str | None = field(default=None, metadata={
        "help": "HCP-MMP1 atlas folder (fsaverage/label/?h.HCPMMP1.annot, fsaverage/surf/?h.sphere): also check "
                "that it carries through each participant's sphere.reg"})


def check_data(fmri: str | Path | None = None, corpora: Mapping[str, str | Path | None] | None = None,
               settings: CheckSettings = CheckSettings(), split: SplitSettings = SplitSettings(),
               layout: str = DEFAULT_LAYOUT, progress: bool = True) -> Findings:
    """Check an fMRI folder (in `layout`) and the probe corpora (name -> folder, of PROBE_CORPORA),
    each if given (`braintune check`).

    fmri: every participant of `settings` and every story each of them heard; the split of
    `split` is resolved over those participants (a participant lacking its test or
    validation story is an error). Without settings.quick the response arrays are read
    whole and the audio decoded.
    """
    corpora = {name: root for name, root in (corpora or {}).items() if root is not None}
    if fmri is None and not corpora:
        raise ConfigError("name a folder to check: an fMRI folder or a probe corpus ("
                          + ", ".join(c.flag for c in PROBE_CORPORA.values()) + ")")
    started = time.perf_counter()
    found = Findings()
    full = not settings.quick
    if fmri is not None:
        fmri_check.check_folder(found, lambda root: open_dataset(layout, root), fmri, settings.participants, split,
                                full, progress, atlas=settings.atlas)
    for name, root in corpora.items():
        PROBE_CORPORA[name].check_module().check(found, Path(root), full, progress)
    found.seconds = time.perf_counter() - started
    return found


def require_study_data(dataset: FMRIDataset | None, splits: dict[str, StorySplit], rois: bool,
                       corpora: Mapping[str, str | Path | None] | None = None,
                       corpus_options: Mapping[str, dict] | None = None, progress: bool = True) -> Findings:
    """The quick checks of the files a run will read, before it loads any model.

    splits: each participant's resolved split (its stories are checked: responses, audio,
    the test story's repeats); rois: check the ROI files (alignment reads them); corpora:
    the probe corpora the run reads (name -> folder), corpus_options: name -> keyword arguments
    of its check (TIMIT: test_set, the split the probes test on). Warnings are logged; errors raise one
    DataError naming the first and counting the rest.
    """
    started = time.perf_counter()
    found = Findings()
    if dataset is not None and splits:
        stories = {p: [*s.train, s.validation, s.test] for p, s in splits.items()}
        fmri_check.check_stories(found, dataset, stories, next(iter(splits.values())).test, full=False, rois=rois,
                                 words=False, progress=progress)
    for name, root in (corpora or {}).items():
        if root is not None:
            options = (corpus_options or {}).get(name, {})
            PROBE_CORPORA[name].check_module().check(found, Path(root), False, progress, **options)
    found.seconds = time.perf_counter() - started
    for problem in found.warnings:
        log.warning("%s", problem.message)
    found.raise_errors()
    log.info("data checked in %.1f s: no errors, %d warnings", found.seconds, len(found.warnings))
    return found


def summary_lines(found: Findings) -> list[str]:
    """Each checked corpus's summary lines (fMRI first)."""
    lines = []
    if "fmri" in found.corpora:
        lines += fmri_check.summary_lines(found.corpora["fmri"], found.participants)
    for name, corpus in PROBE_CORPORA.items():
        if name in found.corpora:
            lines += corpus.check_module().summary_lines(found.corpora[name])
    return lines
