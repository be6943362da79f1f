"""5. The projected wall time of a study on one GPU, from the measured rates and the study's sizes."""

from __future__ import annotations

import numpy as np

from braintune.settings import to_dict

from gpu_parts.sizes import StudySizes


def project(cfg, study: StudySizes, results: dict, n_layers: int, n_features: int) -> tuple[list[dict], list[str]]:
    """Per stage of the study: cells, seconds per cell (mean over the measured models), total
    seconds; and notes where a measurement was not at the study's size.

    Every stage of the grid runs (lebel2024's `stages` are all of them), one after another on one
    GPU. n_layers: layers aligned and probed per model; n_features: ridge features per layer
    (hidden size x delays).
    """
    tune, scheme = cfg.tune_settings(), cfg.features
    n_models, n_participants = len(cfg.models), len(cfg.participants)
    ridge = results["ridge"]
    timit_s = (study.timit_train + study.timit_test) * study.timit_seconds
    clips = study.commands_train + study.commands_validation + study.commands_test
    notes = []
    if ridge["voxels"] != study.voxels:
        notes.append(f"ridge timed at {ridge['voxels']:,} voxels, scaled linearly to {study.voxels:,}")
    if (ridge["rows"], ridge["features"]) != (study.train_rows, n_features):
        notes.append(f"ridge timed at {ridge['rows']:,} rows x {ridge['features']:,} features, not the study's "
                     f"{study.train_rows:,} x {n_features:,}: its rows are not the study's")

    def mean_over_models(seconds_of) -> float:
        return float(np.mean([seconds_of(model) for model in results["tuning"]]))

    def features_s(model: str) -> float:
        row = next(r for r in results["extraction"][model] if r["settings"] == to_dict(scheme))
        return study.story_audio_seconds() / row["rate"]

    def tune_s(part: str):
        def seconds(model: str) -> float:
            t = results["tuning"][model]
            if part == "cache":
                return (study.train_rows + study.validation_rows) / t["cnn_windows_per_s"] if tune.cnn_cache else 0.0
            if part == "train":
                step = "step_cache" if tune.cnn_cache else "step_no_cache"
                return tune.epochs * study.train_rows / t[f"{step}_windows_per_s"]
            per_window = 1 / t["validation_windows_per_s"] + (0 if tune.cnn_cache else 1 / t["cnn_windows_per_s"])
            return (tune.epochs + 1) * study.validation_rows * per_window
        return seconds

    def probe_features_s(model: str) -> float:
        p = results["probe_features"][model]
        return len(cfg.probe.corpora) * p["identity_hash_s"] + timit_s / p["utterances_rate"] + clips / p["clips_rate"]

    tuned = n_models * n_participants
    stages = [
        ("tune: CNN cache", tuned, mean_over_models(tune_s("cache")),
         f"{study.train_rows + study.validation_rows:,} windows" if tune.cnn_cache else "off (tune.cnn_cache: false)"),
        ("tune: training", tuned, mean_over_models(tune_s("train")),
         f"{tune.epochs} epochs x {study.train_rows:,} windows"),
        ("tune: validation", tuned, mean_over_models(tune_s("validation")),
         f"{tune.epochs + 1} x {study.validation_rows:,} windows"),
        ("align: features, pretrained", n_models, mean_over_models(features_s),
         f"{study.story_audio_seconds() / 3600:.2f} h of stories, {scheme.scheme} {scheme.dtype}; once per model"),
        ("align: features, tuned", tuned, mean_over_models(features_s), "the same stories, each tuned model"),
        ("align: ridge", 2 * tuned, n_layers * ridge["seconds"] * study.voxels / ridge["voxels"],
         f"{n_layers} layers x {study.voxels:,} voxels; pretrained and tuned"),
        ("probe: features", n_models + tuned, mean_over_models(probe_features_s),
         f"{timit_s / 3600:.1f} h of TIMIT + {clips:,} clips of 1 s; pretrained and tuned"),
        ("probe: fits (CPU)", n_models + tuned,
         n_layers * sum(task["seconds_per_layer"] for task in results["probe_fits"].values()),
         f"{n_layers} layers x {len(results['probe_fits'])} tasks"),
    ]
    rows = [{"stage": s, "cells": c, "per_cell_s": p, "total_s": c * p, "what": w} for s, c, p, w in stages]
    rows.append({"stage": "total", "cells": None, "per_cell_s": None, "total_s": sum(r["total_s"] for r in rows),
                 "what": f"{n_models} models x {n_participants} participants, one GPU, stages in sequence"})
    return rows, notes
