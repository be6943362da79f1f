"""Encoding models: voxelwise ridge, noise ceilings, ROI summaries (array maths only)."""

from braintune.encoding.ceiling import noise_ceiling, noise_ceiling_authors, zscored_repeats_mean
from braintune.encoding.ridge import (
    EncodingResult,
    chunk_folds,
    fit_encoding_model,
    pearson_r,
    ridge_predict,
    select_alphas,
    story_folds,
)
from braintune.encoding.summary import TABLE_COLUMNS, WHOLE_CORTEX, check_roi_indices, normalised_alignment, roi_table

__all__ = [
    "TABLE_COLUMNS",
    "WHOLE_CORTEX",
    "EncodingResult",
    "check_roi_indices",
    "chunk_folds",
    "fit_encoding_model",
    "noise_ceiling",
    "noise_ceiling_authors",
    "normalised_alignment",
    "pearson_r",
    "ridge_predict",
    "roi_table",
    "select_alphas",
    "story_folds",
    "zscored_repeats_mean",
]
