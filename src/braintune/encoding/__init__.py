"""Encoding models: voxelwise ridge, noise ceilings, ROI summaries (array maths only)."""

from braintune.encoding.ceiling import noise_ceiling, zscored_repeats_mean
from braintune.encoding.ridge import (
    DEFAULT_ALPHAS,
    EncodingResult,
    fit_encoding_model,
    pearson_r,
    ridge_predict,
    select_alphas,
    story_folds,
)
from braintune.encoding.summary import (
    DEFAULT_THRESHOLD,
    TABLE_COLUMNS,
    WHOLE_CORTEX,
    aggregate_participants,
    check_roi_indices,
    normalised_alignment,
    roi_table,
)

__all__ = [
    "DEFAULT_ALPHAS",
    "DEFAULT_THRESHOLD",
    "TABLE_COLUMNS",
    "WHOLE_CORTEX",
    "EncodingResult",
    "aggregate_participants",
    "check_roi_indices",
    "fit_encoding_model",
    "noise_ceiling",
    "normalised_alignment",
    "pearson_r",
    "ridge_predict",
    "roi_table",
    "select_alphas",
    "story_folds",
    "zscored_repeats_mean",
]
