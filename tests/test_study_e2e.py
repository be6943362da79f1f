"""The whole study through the CLI at a reduced size: the three variants (pretrained, brain-tuned,
shuffled-pairing control), tables, figures, report, caching, executors."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
import yaml

from braintune.cli import main
from braintune.models import load_encoder, model_identity
from braintune.study import runner


@pytest.fixture(scope="module")
def study_yaml(sim_dataset, standin_timit, standin_commands, tmp_path_factory):
    """A one-model, one-participant study on the simulated data with the control stages, one short
    tuning epoch, the fast features (the default reference would take minutes here)."""
    folder = tmp_path_factory.mktemp("study")
    config = {
        "name": "e2e", "out": str(folder / "run"), "models": ["tiny:wav2vec2"], "participants": ["UTS01"],
        "stages": ["tune", "tune_control", "align_pretrained", "align_tuned", "align_control", "probe_pretrained",
                   "probe_tuned", "probe_control", "report"],
        "data": {"fmri": str(sim_dataset), "timit": str(standin_timit), "speech_commands": str(standin_commands)},
        "tune": {"epochs": 1, "batch_size": 8, "micro_batch_size": 8, "window_seconds": 4.0, "warmup_epochs": 1,
                 "ceiling_threshold": 0.3},
        "features": {"scheme": "fast"},
        "align": {"n_folds": 2},
        "probe": {"tasks": ["mfcc", "sentence-type"]},
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def count_cells(monkeypatch):
    """Record which cells actually run (the runner skips cached ones before calling these)."""
    ran = []

    def counting(stage, inner):
        def run(cell, *args):
            ran.append(stage)
            return inner(cell, *args)
        return run

    monkeypatch.setattr(runner, "RUNNERS", {s: counting(s, f) for s, f in runner.RUNNERS.items()})
    return ran


def test_study_runs_end_to_end_then_reuses_and_recomputes_only_what_changed(study_yaml, count_cells, capsys):
    assert main(["run", str(study_yaml)]) == 0
    run_dir = study_yaml.parent / "run"
    assert sorted(count_cells) == ["align_control", "align_pretrained", "align_tuned", "probe_control",
                                   "probe_pretrained", "probe_tuned", "tune", "tune_control"]
    assert "report:" in capsys.readouterr().out

    alignment = pd.read_parquet(run_dir / "tables" / "alignment.parquet")
    assert set(alignment["variant"]) == {"pretrained", "tuned", "control"} and set(alignment["layer"]) == {0, 1, 2}
    assert {"late_language", "primary_auditory", "whole_cortex"} <= set(alignment["roi"])
    values = alignment["alignment"].dropna()
    assert len(values) > 0.8 * len(alignment) and values.between(-1, 1.5).all()
    # auditory voxels carry the spectral envelope, which even an untrained model's features follow
    whole = alignment[(alignment.roi == "whole_cortex") & (alignment.variant == "pretrained")]
    assert whole["alignment"].max() > 0

    probing = pd.read_csv(run_dir / "tables" / "probing.csv")
    assert set(probing["task"]) == {"mfcc", "sentence-type"}
    assert set(probing["variant"]) == {"pretrained", "tuned", "control"}
    f1 = probing[probing.metric == "macro_f1"]["value"]
    assert f1.between(0, 1).all()
    for name in ("figure1.png", "figure1.pdf", "figure2.png", "figure2.pdf"):
        assert (run_dir / "figures" / name).stat().st_size > 5000
    html = (run_dir / "report.html").read_text()
    assert "data:image/png;base64" in html and "late_language" in html
    assert html.count("control (shuffled pairs): mean ± SE (n)") == 4  # summary and hierarchy, alignment and probing
    for name in ("alignment", "probing"):
        hierarchy = pd.read_csv(run_dir / "tables" / f"{name}_hierarchy.csv")
        assert set(hierarchy["variant"]) == {"pretrained", "tuned", "control"}
        assert set(hierarchy["statistic"]) == {"peak_layer", "late_slope", "late_minus_peak"}
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["tune"]["epochs"] == 1
    tuned = next((run_dir / "cells" / "tune").rglob("backbone"))
    control = next((run_dir / "cells" / "tune_control").rglob("backbone"))
    assert (tuned / "config.json").exists() and (control / "config.json").exists()
    # every measuring cell records the weights it measured: tuned cells the tuned backbone, control cells the control's
    identity = {"pretrained": model_identity(load_encoder("tiny:wav2vec2")), "tuned": model_identity(load_encoder(tuned)),
                "control": model_identity(load_encoder(control))}
    assert len(set(identity.values())) == 3
    for stage in ("align_pretrained", "align_tuned", "align_control", "probe_pretrained", "probe_tuned", "probe_control"):
        (record,) = [json.loads(p.read_text()) for p in (run_dir / "cells" / stage).rglob("model.json")]
        assert record["identity"] == identity[stage.split("_")[1]], stage
    # the control trained on shuffled pairs and validated on the true ones: before training (epoch 0,
    # the same seeded initial model) its validation loss is the tuned run's
    runs = {name: yaml.safe_load((folder.parent / "config.yaml").read_text()) for name, folder in
            (("tuned", tuned), ("control", control))}
    assert (runs["tuned"]["settings"]["shuffle_pairs"], runs["control"]["settings"]["shuffle_pairs"]) == (False, True)
    logs = {name: [json.loads(line) for line in (folder.parent / "log.jsonl").read_text().splitlines()]
            for name, folder in (("tuned", tuned), ("control", control))}
    assert logs["tuned"][0]["validation_loss"] == logs["control"][0]["validation_loss"]
    assert logs["tuned"][1]["train_loss"] != logs["control"][1]["train_loss"]
    # the tuned variant's numbers come from other features than the pretrained ones
    both = alignment.pivot_table(index=["layer", "roi"], columns="variant", values="alignment")
    assert (both["tuned"] - both["pretrained"]).abs().max() > 1e-3
    # the summaries are the mean of the per-participant rows
    summary = pd.read_csv(run_dir / "tables" / "alignment_summary.csv")
    means = alignment.groupby(["model", "roi", "variant", "layer"])["alignment"].mean()
    for row in summary.itertuples():
        assert row.mean == pytest.approx(means[(row.model, row.roi, row.variant, row.layer)], nan_ok=True)

    count_cells.clear()
    assert main(["run", str(study_yaml)]) == 0
    assert count_cells == []  # every cell reused

    assert main(["run", str(study_yaml), "align.ceiling_threshold=0.1"]) == 0
    assert sorted(count_cells) == ["align_control", "align_pretrained", "align_tuned"]  # tuning and probing reused


def test_executor_runs_cells_as_separate_processes(study_yaml, tmp_path):
    out = tmp_path / "run"
    overrides = [f"out={out}", "models=[tiny:wav2vec2, tiny:hubert]", "stages=[probe_pretrained]", "probe.tasks=[mfcc]"]
    assert main(["run", str(study_yaml), *overrides, "--executor", "local-processes"]) == 0
    done = [json.loads(p.read_text()) for p in (out / "cells").rglob("done.json")]
    assert len(done) == 2
    pids = {d["pid"] for d in done}
    assert len(pids) == 2 and os.getpid() not in pids  # each cell ran in its own process
    assert len(list((out / "submitit").glob("*_log.out"))) == 2
    table = pd.read_csv(out / "tables" / "probing.csv")
    assert set(table["model"]) == {"tiny:wav2vec2", "tiny:hubert"}
    assert np.isfinite(table["value"]).all()


def test_bad_config_is_one_clear_line(study_yaml, capsys):
    assert main(["run", str(study_yaml), "tune.epochz=3"]) == 1
    err = capsys.readouterr().err
    assert "unknown key tune.epochz" in err and "Traceback" not in err
