"""Encoding models: voxelwise ridge, noise ceilings, ROI summaries, per-voxel significance (array maths only).

Names load their module on first use (braintune._lazy), so that importing one settings owner
that needs one of them does not import pandas or scipy."""

from braintune._lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    **dict.fromkeys(("noise_ceiling", "noise_ceiling_authors", "zscored_repeats_mean"), "braintune.encoding.ceiling"),
    **dict.fromkeys(("EncodingResult", "chunk_folds", "fit_encoding_model", "pearson_r", "ridge_predict",
                     "select_alphas", "story_folds"), "braintune.encoding.ridge"),
    **dict.fromkeys(("SIGNIFICANCE_COLUMNS", "VoxelSignificance", "block_permutations", "fdr_bh",
                     "permutation_p_values", "roi_significance", "voxel_significance"),
                    "braintune.encoding.significance"),
    **dict.fromkeys(("TABLE_COLUMNS", "WHOLE_CORTEX", "check_roi_indices", "normalised_alignment", "roi_table"),
                    "braintune.encoding.summary"),
})
