"""Hidden states of speech encoders, layer by layer, on the fMRI clock."""

from braintune._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "Scheme": "braintune.features.settings",
    "FeatureCache": "braintune.features.cache",
    **dict.fromkeys(("extract", "fast_features", "reference_features", "step_ends"), "braintune.features.extraction"),
    **dict.fromkeys(("lanczos_kernel", "lanczos_matrix", "lanczos_resample", "make_delayed"), "braintune.features.resample"),
    **dict.fromkeys(("step_features", "story_tr_features", "tr_features"), "braintune.features.stories"),
})
