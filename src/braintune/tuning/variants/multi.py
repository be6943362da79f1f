"""The multi-participant variant (Moussa & Toneva, NeurIPS 2025; bridge-ai-neuro/multi-brain-tuning):
one model tuned on several participants at once. Each participant keeps its own stories; the pairs
of all are pooled, so batches mix participants, and a pair's loss counts only the targets its
participant has (braintune.tuning.targets). Two heads (tune.head):

- per_participant: each participant's own voxels with a ceiling above the threshold, one linear
  head per participant as the rows of one layer; works with any dataset.
- common: the anchor's. Each participant's responses are brought onto fsaverage's vertices of the
  late-language areas by the authors' projection (the participant's affine to MNI, nilearn's
  vol_to_surf; braintune.data.fsaverage), z-scored per story; a participant's targets are the
  vertices where the ceiling of its projected repeats passes the threshold; one head on the shared
  vertices.

The control shuffles the pairing across all pooled pairs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from braintune.data.fmri import FMRIDataset, StorySplit
from braintune.data.rois import ROI_GROUPS
from braintune.encoding import noise_ceiling
from braintune.errors import ConfigError, DataError
from braintune.tuning.data import Pairs, TuneData, load_data, shuffled_pairing, story_pairs
from braintune.tuning.settings import TuneSettings
from braintune.tuning.targets import BlockTargets
from braintune.tuning.variants.base import TuningVariant

COMMON_AREAS = ROI_GROUPS["late_language"]  # the anchor's targets: fsaverage vertices of language areas


def pool_pairs(parts: Sequence[Pairs], columns=None, n_targets=None) -> Pairs:
    """The pairs of several participants, one after the other, with pooled targets (BlockTargets)."""
    stories = list(dict.fromkeys(s for part in parts for s in part.stories))
    audio = {s: a for part in parts for s, a in part.audio.items()}
    story = np.concatenate([np.array([stories.index(part.stories[i]) for i in part.story], np.int64) for part in parts])
    return Pairs(stories=stories, audio=audio, story=story, end=np.concatenate([part.end for part in parts]),
                 targets=BlockTargets.pool([part.targets for part in parts], columns, n_targets),
                 window=parts[0].window)


def common_space_projection(dataset: FMRIDataset, participant: str, space, atlas, vertices):
    """rows (rows, voxels) -> (rows, common vertices) for one participant (braintune.data.fsaverage)."""
    from braintune.data.fsaverage import affine_path, project_rows, read_affine
    from braintune.data.pycortex import Subject, cortical_mask

    files = dataset.cortex(participant)
    subject = Subject(files.subject)
    mask = cortical_mask(subject, subject.transform(files.transform), "thick")
    if int(mask.sum()) != dataset.n_voxels(participant):
        raise DataError(f"{files.subject}: the thick mask of {files.transform} has {int(mask.sum())} voxels, but "
                        f"{participant}'s responses have {dataset.n_voxels(participant)} columns")
    affine = read_affine(affine_path(space.affines, participant))
    return lambda rows: project_rows(rows, mask, affine, atlas, vertices)


class Multi(TuningVariant):
    name = "multi"
    per_participant = False

    def load_data(self, dataset: FMRIDataset, participants: Sequence[str], splits: dict[str, StorySplit],
                  settings: TuneSettings, space=None) -> TuneData:
        own = dataclasses.replace(settings, shuffle_pairs=False)  # the control shuffles the pooled pairs
        if settings.head == "common":
            data = self._common(dataset, participants, splits, own, space)
        else:
            parts = [load_data(dataset, p, splits[p], own) for p in participants]
            data = TuneData(
                voxels=np.concatenate([part.voxels for part in parts]),
                ceilings=np.concatenate([part.ceilings for part in parts]),
                train=pool_pairs([part.train for part in parts]),
                validation=pool_pairs([part.validation for part in parts]),
                owners=np.concatenate([np.full(len(part.voxels), p) for p, part in zip(participants, parts)]),
            )
        if settings.shuffle_pairs:
            data = dataclasses.replace(data, train=shuffled_pairing(data.train, settings.seed))
        return data

    @staticmethod
    def _common(dataset, participants, splits, settings: TuneSettings, space) -> TuneData:
        """Targets on the common space's vertices (module docstring): voxels = the fsaverage vertex of each
        target column (the left hemisphere's, then the right's), ceilings = the best of the participants'."""
        from braintune.data.fsaverage import FsaverageAtlas, area_vertices

        if space is None:
            raise ConfigError("tune.head: common needs the common space: set align.atlas and align.affines")
        atlas = FsaverageAtlas.read(space.atlas)
        vertices = area_vertices(atlas, COMMON_AREAS)
        train, validation, columns, ceilings = [], [], [], np.zeros(sum(map(len, vertices)), np.float32)
        for p in participants:
            project = common_space_projection(dataset, p, space, atlas, vertices)
            ceiling = noise_ceiling(np.stack([project(r) for r in dataset.load_repeats(p, splits[p].test)]))
            kept = np.flatnonzero(ceiling > settings.ceiling_threshold)
            if not kept.size:
                raise DataError(f"{dataset.root}: {p} has no common-space vertex with a noise ceiling above "
                                f"{settings.ceiling_threshold:g} (highest: {ceiling.max():.3f})")
            train.append(story_pairs(dataset, p, splits[p].train, kept, settings.window_seconds, project))
            validation.append(story_pairs(dataset, p, [splits[p].validation], kept, settings.window_seconds, project))
            columns.append(kept)
            ceilings[kept] = np.maximum(ceilings[kept], ceiling[kept])
        n = sum(map(len, vertices))
        return TuneData(voxels=np.concatenate(vertices), ceilings=ceilings, train=pool_pairs(train, columns, n),
                        validation=pool_pairs(validation, columns, n))


VARIANT = Multi()
