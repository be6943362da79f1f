"""Participant-level statistics: paired differences tuned - pretrained and tuned - control, their
bootstrap intervals and paired t-tests, on hand-made tables; and their section of report.html."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from braintune.report import alignment_differences, build_report, hierarchy_differences, paired_difference
from braintune.report.hierarchy import profile_statistics
from braintune.report.statistics import FEW_PARTICIPANTS, NO_SPREAD

COLUMNS = ["variant", "baseline", "n_participants", "mean_difference", "ci_low", "ci_high", "t_statistic", "p_value",
           "note"]
PARTICIPANTS = ("UTS01", "UTS02", "UTS03", "UTS04")
PRETRAINED = {0: [0.10, 0.20, 0.30, 0.40], 1: [0.30, 0.10, 0.20, 0.50]}  # layer -> one value per participant
TUNED_GAIN = [0.05, 0.10, 0.02, 0.07]  # tuned - pretrained per participant: mean 0.06
CONTROL_GAIN = [0.01, 0.03, 0.00, 0.04]  # control - pretrained: tuned - control = 0.04, 0.07, 0.02, 0.03 (mean 0.04)


def hand_table(models=("m",), participants=PARTICIPANTS, variants=("pretrained", "tuned", "control")) -> pd.DataFrame:
    gain = {"pretrained": [0.0] * 4, "tuned": TUNED_GAIN, "control": CONTROL_GAIN}
    return pd.DataFrame([
        dict(model=m, variant=v, participant=p, layer=layer, roi=roi,
             alignment=PRETRAINED[layer][i] + gain[v][i] + 0.1 * (roi == "primary_auditory"))
        for m in models for v in variants for i, p in enumerate(participants) for layer in (0, 1)
        for roi in ("primary_auditory", "late_language")
    ])


def row(table: pd.DataFrame, **where) -> pd.Series:
    (index,) = np.flatnonzero(np.logical_and.reduce([table[k] == v for k, v in where.items()]))
    return table.iloc[index]


def test_mean_differences_are_exact_per_model_roi_layer_and_contrast():
    table = pd.concat([hand_table(), hand_table(models=("no-control",), variants=("pretrained", "tuned"))])
    differences = alignment_differences(table)
    assert list(differences.columns) == ["model", "roi", "layer", *COLUMNS]
    # 2 ROIs x 2 layers x (2 contrasts for "m", 1 for the model without a control); late_language first
    assert len(differences) == 2 * 2 * 2 + 2 * 2
    assert list(differences["roi"][:4]) == ["late_language"] * 4
    assert list(differences["baseline"][:4]) == ["pretrained", "pretrained", "control", "control"]
    for roi in ("late_language", "primary_auditory"):
        for layer in (0, 1):
            tuned = row(differences, model="m", roi=roi, layer=layer, baseline="pretrained")
            assert tuned["mean_difference"] == pytest.approx(0.06, abs=1e-12)
            assert tuned["n_participants"] == 4 and tuned["note"] == "" and tuned["variant"] == "tuned"
            control = row(differences, model="m", roi=roi, layer=layer, baseline="control")
            assert control["mean_difference"] == pytest.approx(0.04, abs=1e-12)
    assert set(differences.loc[differences["model"] == "no-control", "baseline"]) == {"pretrained"}


def test_interval_contains_the_mean_and_the_test_is_scipys_paired_t_test():
    differences = alignment_differences(hand_table(), seed=3)
    for _, r in differences.iterrows():
        assert r["ci_low"] < r["mean_difference"] < r["ci_high"]
    r = row(differences, roi="late_language", layer=1, baseline="pretrained")
    pretrained = np.array(PRETRAINED[1])
    expected = scipy.stats.ttest_rel(pretrained + TUNED_GAIN, pretrained)
    assert r["t_statistic"] == pytest.approx(expected.statistic, rel=1e-9)
    assert r["p_value"] == pytest.approx(expected.pvalue, rel=1e-9)
    # the differences lie in [0.02, 0.10]; so does the interval of their mean, the same for the same seed
    assert 0.02 <= r["ci_low"] and r["ci_high"] <= 0.10
    again = alignment_differences(hand_table(), seed=3)
    assert again[["ci_low", "ci_high"]].equals(differences[["ci_low", "ci_high"]])


def test_bootstrap_resamples_participants_with_both_their_values():
    """Participants differ by a lot (0 ... 4) but each gains about 0.1: resampling participants
    keeps each pair, so the interval is about 0.1 wide at most; resampling the two variants
    separately would give an interval about 2 wide."""
    offsets = np.arange(8.0)
    gains = 0.1 + np.array([0.01, -0.02, 0.015, 0.0, -0.01, 0.02, -0.005, 0.005])
    stats = paired_difference(offsets + gains, offsets, seed=0)
    assert stats["mean_difference"] == pytest.approx(gains.mean(), abs=1e-12)
    assert 0.08 < stats["ci_low"] < gains.mean() < stats["ci_high"] < 0.12


def test_fewer_than_three_participants_give_no_interval_and_say_so():
    differences = alignment_differences(hand_table(participants=PARTICIPANTS[:2]))
    assert set(differences["n_participants"]) == {2}
    assert set(differences["note"]) == {FEW_PARTICIPANTS} == {"fewer than 3 participants: no interval"}
    assert differences[["ci_low", "ci_high", "t_statistic", "p_value"]].isna().all().all()
    first = row(differences, roi="late_language", layer=0, baseline="pretrained")
    assert first["mean_difference"] == pytest.approx((0.05 + 0.10) / 2, abs=1e-12)
    # a NaN (an ROI without voxels above the ceiling threshold) leaves its participant out
    stats = paired_difference([0.5, math.nan, 0.7], [0.4, 0.3, 0.2])
    assert stats["n_participants"] == 2 and stats["note"] == FEW_PARTICIPANTS
    assert stats["mean_difference"] == pytest.approx(0.3, abs=1e-12)


def test_equal_differences_give_an_interval_of_that_difference_and_no_test():
    stats = paired_difference([0.5, 0.75, 1.0], [0.25, 0.5, 0.75])
    assert stats["note"] == NO_SPREAD and math.isnan(stats["t_statistic"]) and math.isnan(stats["p_value"])
    assert stats["ci_low"] == stats["ci_high"] == stats["mean_difference"] == 0.25


RISING = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
PEAKED = [0.1, 0.3, 0.5, 0.6, 0.5, 0.3, 0.2]


def test_hierarchy_differences_pair_each_participants_statistics():
    """Tuned rises, pretrained peaks at layer 3, each scaled per participant: the peak moves by 3
    layers in everyone (no spread); the late slope gains 0.25 x the participant's scale."""
    scales = {"UTS01": 1.0, "UTS02": 1.5, "UTS03": 2.5}
    alignment = pd.DataFrame([
        dict(model="m", variant=v, participant=p, layer=k, roi="late_language", alignment=s * y)
        for v, profile in (("tuned", RISING), ("pretrained", PEAKED)) for p, s in scales.items()
        for k, y in enumerate(profile)
    ])
    table = hierarchy_differences(alignment)
    assert list(table.columns) == ["model", "roi", "statistic", *COLUMNS]
    assert list(table["statistic"]) == ["peak_layer", "late_slope", "late_minus_peak"]
    peak = row(table, statistic="peak_layer")
    assert peak["mean_difference"] == 3 and peak["note"] == NO_SPREAD
    per_participant = {v: np.array([profile_statistics(range(7), np.multiply(s, profile))["late_slope"]
                                    for s in scales.values()]) for v, profile in (("tuned", RISING),
                                                                                  ("pretrained", PEAKED))}
    slope = row(table, statistic="late_slope")
    assert slope["mean_difference"] == pytest.approx(0.25 * np.mean(list(scales.values())), rel=1e-9)
    assert slope["p_value"] == pytest.approx(
        scipy.stats.ttest_rel(per_participant["tuned"], per_participant["pretrained"]).pvalue, rel=1e-9)
    assert slope["ci_low"] < slope["mean_difference"] < slope["ci_high"]


def make_run(root, alignment: pd.DataFrame):
    (root / "tables").mkdir(parents=True)
    alignment.to_csv(root / "tables" / "alignment.csv", index=False)
    return root


def test_report_writes_the_tables_and_shows_them(tmp_path):
    alignment = pd.concat([hand_table(), hand_table(models=("two-participants",), participants=PARTICIPANTS[:2])])
    run = make_run(tmp_path / "run", alignment)
    text = build_report(run).read_text("utf-8")
    for name, compute in (("alignment_differences", alignment_differences),
                          ("alignment_hierarchy_differences", hierarchy_differences)):
        csv = pd.read_csv(run / "tables" / f"{name}.csv", dtype={"note": str}, keep_default_na=False,
                          na_values=[""])
        parquet = pd.read_parquet(run / "tables" / f"{name}.parquet")
        expected = compute(alignment)
        assert list(csv.columns) == list(parquet.columns) == list(expected.columns)
        assert len(csv) == len(parquet) == len(expected)
        pd.testing.assert_frame_equal(parquet, expected)
        assert f"tables/{name}.csv" in text
    assert all((run / "tables" / f"alignment_{name}.csv").is_file() for name in ("summary", "hierarchy"))
    assert "Brain-tuned against pretrained and control, participant by participant" in text
    r = row(alignment_differences(alignment), model="m", roi="late_language", layer=1, baseline="pretrained")
    assert f"{r['mean_difference']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]" in text
    assert f"t = {r['t_statistic']:.2f}, p = {r['p_value']:.3g}" in text
    assert "brain-tuned − control (shuffled pairs)" in text
    assert FEW_PARTICIPANTS in text  # the model with two participants
