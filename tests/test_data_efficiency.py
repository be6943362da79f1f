"""The data-efficiency study (Moussa & Toneva, NeurIPS 2025) on simulated participants whose
language voxels share one read-out of the stimulus: the whole study through `braintune demo
--study data-efficiency` (slow: 9 min 10 s on 2 cores, AMD EPYC), and the same machinery at a size the suite
affords (the relation is not tested there: a tiny random model learns nothing from 2 stories)."""

from __future__ import annotations

import pandas as pd
import pytest

from braintune.demo import run_demo


def _mean_over_layers(table: pd.DataFrame, roi: str) -> pd.DataFrame:
    """variant x n_train_stories -> mean over participants of each one's mean over the transformer's layers."""
    rows = table[(table.roi == roi) & (table.layer >= 1)]
    per_participant = rows.groupby(["variant", "n_train_stories", "participant"])["alignment"].mean()
    return per_participant.groupby(["variant", "n_train_stories"]).mean().unstack()


def _stories_needed(curve: pd.Series, reference: float) -> float:
    """The smallest k from which on the curve stays at or above the reference (inf if it never does)."""
    reached = [k for k in curve.index if (curve.loc[k:] >= reference).all()]
    return min(reached) if reached else float("inf")


@pytest.mark.slow
def test_a_model_tuned_on_other_participants_needs_fewer_of_a_new_participants_stories(tmp_path):
    """Measured with the shipped tiny-pretrained:hubert (AMD EPYC, 2 cores): held-out UTS03 and UTS04, late
    language, mean over layers 1-6 at 12 stories: multi-participant tuned 0.097 and 0.105 against
    pretrained 0.077 and 0.094; the whole cortex's pretrained full-data alignment (0.158, mean over
    layers 1-6) reached from 8 stories by the multi-participant model (0.172), from 12 by the single
    (0.153 at 8)."""
    table = pd.read_csv(run_demo(tmp_path, study="data-efficiency") / "tables" / "alignment.csv")
    language = _mean_over_layers(table, "late_language")
    k_max = language.columns.max()
    for participant in ("UTS03", "UTS04"):  # held out from the multi-participant tuning: a gain on each
        rows = table[(table.participant == participant) & (table.roi == "late_language") & (table.layer >= 1)
                     & (table.n_train_stories == k_max)]
        by_variant = rows.groupby("variant")["alignment"].mean()
        assert by_variant["multi-tuned"] > by_variant["pretrained"] + 0.005, by_variant
    cortex = _mean_over_layers(table, "whole_cortex")
    reference = cortex.loc["pretrained", k_max]
    assert _stories_needed(cortex.loc["multi-tuned"], reference) < _stories_needed(cortex.loc["tuned"], reference), cortex


def test_the_data_efficiency_study_runs_every_k_with_one_multi_participant_model(tmp_path):
    """At the suite's size: every k aligned for every variant, one multi-participant tune cell whose
    model every participant and k is aligned with, and the report's data-efficiency tables."""
    overrides = ["models=[tiny:hubert]", "split.n_train_stories=[2, 3]", "tune.epochs=1", "tune.window_seconds=4.0",
                 "tune.ceiling_threshold=0.3", "tune.adapter=lora"]
    run = run_demo(tmp_path, overrides, size="small", study="data-efficiency")
    table = pd.read_csv(run / "tables" / "alignment.csv")
    assert set(table.groupby(["variant", "n_train_stories", "participant"]).groups) == {
        (v, k, p) for v in ("pretrained", "tuned", "multi-tuned") for k in (2, 3) for p in ("UTS03", "UTS04")}
    assert len(list((run / "cells" / "tune_multi").rglob("done.json"))) == 1
    assert len(list((run / "cells" / "tune").rglob("done.json"))) == 4  # 2 participants x 2 k
    needed = pd.read_csv(run / "tables" / "data_efficiency_stories.csv")
    assert set(needed.variant) == {"pretrained", "tuned", "multi-tuned"} and set(needed.k_max) == {3}
    assert (run / "figures" / "data_efficiency.png").is_file()
