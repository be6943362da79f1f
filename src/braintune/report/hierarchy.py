"""The layer hierarchy as numbers: where a layer profile peaks and how its late layers behave.

A profile is one value per layer: one participant's normalised alignment with one ROI, or
one model's probe score on one task and metric. Its statistics (profile_statistics), for
layers x_1 < ... < x_L with values y_1 ... y_L:

    peak_layer       the layer x_k of the largest value (the first such layer on ties)
    late_slope       least-squares slope of y against x over the last m = max(2, ceil(L/3))
                     layers: b = sum (x_k - mean x)(y_k - mean y) / sum (x_k - mean x)^2
                     (at least two layers, so that a 3-layer model has a slope)
    late_minus_peak  y_L - max y (0 when the last layer is the peak; below 0 otherwise)

The paper's contrast in these terms: pretrained late-language alignment peaks in the middle
(late_minus_peak well below 0, late_slope < 0), brain-tuned rises to the last layer
(late_minus_peak near 0, late_slope > 0). Each statistic is computed per participant (per
tuned model for probing; the pretrained probe has one value), then summarised as mean and
standard error across them, like the per-layer summaries (braintune.report.tables).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from braintune.report.tables import METRIC_ORDER, ROI_ORDER, TASK_ORDER, VARIANTS, mean_se, sort_summary

STATISTICS = ("peak_layer", "late_slope", "late_minus_peak")


def late_count(n_layers: int) -> int:
    """How many of the last layers late_slope spans: max(2, ceil(L / 3))."""
    return max(2, math.ceil(n_layers / 3))


def profile_statistics(layers: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """peak_layer, late_slope and late_minus_peak of one profile (formulas in the module docstring).

    layers: (L,) increasing layer indices; values: (L,) the value at each layer.
    Any NaN value (e.g. an ROI without a voxel above the ceiling threshold) makes all three
    NaN; late_slope is NaN for a single layer.
    """
    x, y = np.asarray(layers, dtype=np.float64), np.asarray(values, dtype=np.float64)
    if len(y) == 0 or np.isnan(y).any():
        return dict.fromkeys(STATISTICS, math.nan)
    peak = int(np.argmax(y))
    late_x, late_y = x[-late_count(len(x)):], y[-late_count(len(x)):]
    dx = late_x - late_x.mean()
    slope = float(dx @ (late_y - late_y.mean()) / (dx @ dx)) if len(late_x) > 1 else math.nan
    return {"peak_layer": float(x[peak]), "late_slope": slope, "late_minus_peak": float(y[-1] - y[peak])}


def profile_table(table: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """The statistics of every profile of a tidy table (one row per keys x layer).

    -> columns *keys, statistic, value; one row per profile and statistic.
    """
    rows = []
    for group, profile in table.groupby(keys, sort=False):
        profile = profile.sort_values("layer")
        stats = profile_statistics(profile["layer"].to_numpy(), profile[value].to_numpy(dtype=np.float64))
        rows += [{**dict(zip(keys, group)), "statistic": name, "value": v} for name, v in stats.items()]
    return pd.DataFrame(rows, columns=[*keys, "statistic", "value"])


def alignment_hierarchy(alignment: pd.DataFrame) -> pd.DataFrame:
    """Per model x roi x variant x statistic: mean and SE across participants of each
    participant's statistic. -> columns model, roi, variant, statistic, mean, se, n_participants."""
    profiles = profile_table(alignment, ["model", "roi", "variant", "participant"], "alignment")
    summary = mean_se(profiles, ["model", "roi", "variant", "statistic"], "value", "n_participants")
    return sort_summary(summary, {"roi": ROI_ORDER, "statistic": STATISTICS, "variant": VARIANTS})


def probing_hierarchy(probing: pd.DataFrame) -> pd.DataFrame:
    """Per model x task x metric x variant x statistic: the pretrained model's statistic
    (n_models = 1), or mean and SE across the per-participant tuned (or control) models.
    -> columns model, task, metric, variant, statistic, mean, se, n_models."""
    profiles = profile_table(probing, ["model", "task", "metric", "variant", "participant"], "value")
    summary = mean_se(profiles, ["model", "task", "metric", "variant", "statistic"], "value", "n_models")
    return sort_summary(summary, {"task": TASK_ORDER, "metric": METRIC_ORDER, "statistic": STATISTICS,
                                  "variant": VARIANTS})
