"""Brain alignment, the stage: per participant and layer, voxelwise ridge from a model's
features to fMRI, scored against the noise ceiling and summarised by ROI."""

from braintune.alignment.run import align_model, align_participant, run_alignment

__all__ = ["align_model", "align_participant", "run_alignment"]
