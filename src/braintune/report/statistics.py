"""Participant-level statistics: is the brain-tuned model better than the pretrained model and the control?

Each participant has a pretrained, a brain-tuned and (where the study ran it) a control value
of the same quantity: the normalised alignment of one model's layer with one ROI
(``alignment_differences``), or a hierarchy statistic of that participant's layer profile
(``hierarchy_differences``; peak_layer, late_slope, late_minus_peak of braintune.report.hierarchy).
For the pairs variant - baseline, (tuned, pretrained) and (tuned, control), the participants
having both values (NaN values are left out) give n paired differences d_1 ... d_n and:

    mean_difference  mean of d (variant minus baseline; > 0: the variant is higher)
    ci_low, ci_high  95% bootstrap interval of the mean difference, resampling participants
                     (scipy.stats.bootstrap with paired=True: a resample keeps each participant's
                     two values together), percentile method, n_resamples draws from a
                     numpy Generator seeded with `seed` afresh for every row (a row's interval
                     does not depend on the other rows of the table)
    t_statistic, p_value
                     the paired t-test (scipy.stats.ttest_rel, two-sided) of variant against
                     baseline. It is reported rather than the Wilcoxon signed-rank test because
                     with the 3-8 participants of ds003020 the exact signed-rank p cannot go
                     below 2 / 2^n (0.25 for 3 participants, 0.0625 for 5): it could never show
                     an effect; the t-test assumes roughly normal differences, and the bootstrap
                     interval beside it does not.
    note             "" when all are given; "fewer than 3 participants: no interval" (no
                     interval and no test below 3 pairs); "the same difference in every
                     participant: no test" (no spread, so no t; the interval is that difference)

The percentile interval rather than scipy's default BCa: with a handful of participants BCa's
acceleration rests on n jackknife values, and it is undefined when every difference is equal.
"""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import scipy.stats

from braintune.report.hierarchy import STATISTICS, profile_table
from braintune.report.tables import ROI_ORDER, sort_summary

CONTRASTS = (("tuned", "pretrained"), ("tuned", "control"))  # (variant, baseline): variant - baseline
MIN_PARTICIPANTS = 3
FEW_PARTICIPANTS = f"fewer than {MIN_PARTICIPANTS} participants: no interval"
NO_SPREAD = "the same difference in every participant: no test"
RESULT_COLUMNS = ["variant", "baseline", "n_participants", "mean_difference", "ci_low", "ci_high", "t_statistic",
                  "p_value", "note"]


def paired_difference(variant: np.ndarray, baseline: np.ndarray, *, confidence: float = 0.95,
                      n_resamples: int = 9999, seed: int = 0) -> dict[str, float | int | str]:
    """The statistics of one row (module docstring) from paired values, one per participant.

    variant, baseline: (participants,) in the same participant order; pairs with a NaN are left out.
    -> n_participants, mean_difference, ci_low, ci_high, t_statistic, p_value, note.
    """
    variant, baseline = np.asarray(variant, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    keep = np.isfinite(variant) & np.isfinite(baseline)
    variant, baseline = variant[keep], baseline[keep]
    difference = variant - baseline
    out = dict(n_participants=len(difference), mean_difference=float(difference.mean()) if len(difference) else np.nan,
               ci_low=np.nan, ci_high=np.nan, t_statistic=np.nan, p_value=np.nan, note="")
    if len(difference) < MIN_PARTICIPANTS:
        return out | {"note": FEW_PARTICIPANTS}
    interval = scipy.stats.bootstrap(
        (variant, baseline), _mean_difference, paired=True, vectorized=True, n_resamples=n_resamples,
        confidence_level=confidence, method="percentile", **_seeded(seed),
    ).confidence_interval
    out |= {"ci_low": float(interval.low), "ci_high": float(interval.high)}
    if np.ptp(difference) <= 1e-9 * np.abs(difference).max():  # equal up to rounding: ttest_rel divides by ~0
        return out | {"note": NO_SPREAD}
    test = scipy.stats.ttest_rel(variant, baseline)
    return out | {"t_statistic": float(test.statistic), "p_value": float(test.pvalue)}


def paired_differences(table: pd.DataFrame, keys: list[str], value: str, *, confidence: float = 0.95,
                       n_resamples: int = 9999, seed: int = 0) -> pd.DataFrame:
    """paired_difference for every group of `keys` and every contrast whose two variants it holds.

    table: tidy, one row per keys x variant x participant, `value` the number.
    -> columns *keys, variant, baseline, n_participants, mean_difference, ci_low, ci_high,
    t_statistic, p_value, note.
    """
    rows = []
    for group, part in table.groupby(keys, sort=False):
        wide = part.pivot(index="participant", columns="variant", values=value)
        for variant, baseline in CONTRASTS:
            if variant in wide and baseline in wide:
                stats = paired_difference(wide[variant].to_numpy(), wide[baseline].to_numpy(), confidence=confidence,
                                          n_resamples=n_resamples, seed=seed)
                rows.append({**dict(zip(keys, group)), "variant": variant, "baseline": baseline, **stats})
    return pd.DataFrame(rows, columns=[*keys, *RESULT_COLUMNS])


def alignment_differences(alignment: pd.DataFrame, **options) -> pd.DataFrame:
    """Per model x roi x layer: tuned - pretrained and tuned - control of the normalised alignment
    across participants (module docstring; options: confidence, n_resamples, seed).
    -> columns model, roi, layer, variant, baseline, n_participants, mean_difference, ci_low,
    ci_high, t_statistic, p_value, note."""
    table = paired_differences(alignment, ["model", "roi", "layer"], "alignment", **options)
    return sort_summary(table, {"roi": ROI_ORDER, "baseline": ("pretrained", "control")})


def hierarchy_differences(alignment: pd.DataFrame, **options) -> pd.DataFrame:
    """Per model x roi x statistic: tuned - pretrained and tuned - control of each participant's
    hierarchy statistic (peak_layer, late_slope, late_minus_peak) of its alignment profile.
    -> columns model, roi, statistic, variant, baseline, n_participants, mean_difference, ci_low,
    ci_high, t_statistic, p_value, note."""
    profiles = profile_table(alignment, ["model", "roi", "variant", "participant"], "alignment")
    table = paired_differences(profiles, ["model", "roi", "statistic"], "value", **options)
    return sort_summary(table, {"roi": ROI_ORDER, "statistic": STATISTICS, "baseline": ("pretrained", "control")})


def _mean_difference(variant: np.ndarray, baseline: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(variant - baseline, axis=axis)


def _seeded(seed: int) -> dict[str, np.random.Generator]:
    """scipy.stats.bootstrap's seeding keyword: `rng` from scipy 1.15, `random_state` before."""
    name = "rng" if "rng" in inspect.signature(scipy.stats.bootstrap).parameters else "random_state"
    return {name: np.random.default_rng(seed)}
