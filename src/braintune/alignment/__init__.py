"""Brain alignment, the stage: per participant and layer, voxelwise ridge from a model's
features to fMRI, scored against the noise ceiling and summarised by ROI."""

from braintune._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "AlignSettings": "braintune.alignment.settings",
    **dict.fromkeys(("align_model", "align_participant", "run_alignment"), "braintune.alignment.run"),
})
