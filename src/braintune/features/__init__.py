"""Hidden states of speech encoders, layer by layer, on the fMRI clock."""

from braintune.features.cache import FeatureCache
from braintune.features.extraction import Scheme, extract, fast_features, reference_features, step_ends
from braintune.features.resample import lanczos_kernel, lanczos_matrix, lanczos_resample, make_delayed, zscore
from braintune.features.stories import step_features, story_tr_features, tr_features

__all__ = [
    "FeatureCache",
    "Scheme",
    "extract",
    "fast_features",
    "lanczos_kernel",
    "lanczos_matrix",
    "lanczos_resample",
    "make_delayed",
    "reference_features",
    "step_ends",
    "step_features",
    "story_tr_features",
    "tr_features",
    "zscore",
]
