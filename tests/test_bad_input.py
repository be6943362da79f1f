"""Bad input as a new user meets it: one clear line, before any cell runs, nothing silent, nothing
lost. Each family of cases is tested as a family (every device name, every duplicated list ...)."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import soundfile as sf
import yaml

from braintune.cli import main
from braintune.data.check import check_data, require_study_data
from braintune.errors import ConfigError, DataError
from braintune.study.config import load_config
from braintune.study.runner import run_study
from conftest import write_commands_layout, write_timit_layout

TUNE = {"epochs": 2, "batch_size": 8, "micro_batch_size": 8, "window_seconds": 4.0, "warmup_epochs": 1,
        "ceiling_threshold": 0.3}


def study(tmp_path, sim_dataset, stages=("align_pretrained",), **sections):
    return {"name": "bad", "out": str(tmp_path / "run"), "models": ["tiny:hubert"], "participants": ["UTS01"],
            "stages": list(stages), "data": {"fmri": str(sim_dataset)}, "features": {"scheme": "fast"},
            "align": {"n_folds": 2}, **sections}


# ---- a diverging run ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_a_learning_rate_that_is_not_finite_is_refused_at_load(value, tmp_path, sim_dataset):
    for key in ("backbone_lr", "head_lr"):
        with pytest.raises(ConfigError, match=f"tune.{key}: must be a finite number"):
            load_config(raw=study(tmp_path, sim_dataset), overrides=[f"tune.{key}={value}"])


def test_a_diverging_run_stops_at_its_first_non_finite_step_and_exports_nothing(tmp_path, sim_dataset, capsys):
    """Guards against a NaN model exported, aligned and reported as 0.0: the run exits non-zero, the
    checkpoint of the last finite epoch stays, no backbone is written."""
    cfg = study(tmp_path, sim_dataset, stages=("tune", "align_tuned"), tune={**TUNE, "backbone_lr": 1e6, "head_lr": 1e6})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path)]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("braintune run: error: brain-tuning diverged at epoch ") and "backbone lr" in line
    cell = next((tmp_path / "run" / "cells" / "tune").rglob("log.jsonl")).parent
    assert not (cell / "backbone").exists() and not (tmp_path / "run" / "tables").exists()
    records = [json.loads(r) for r in (cell / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["validation_loss"]) for r in records)  # only finite epochs were logged and saved


# ---- the authors' protocol on too few rows -------------------------------------------------------------
@pytest.mark.parametrize("stories", [1, 2])
def test_the_authors_folds_on_too_few_rows_stop_the_study_before_it_starts(stories, tmp_path, sim_dataset):
    cfg = load_config(raw=study(tmp_path, sim_dataset, align={"protocol": "authors"},
                                split={"train_stories": [f"simstory0{i + 1}" for i in range(stories)]}))
    with pytest.raises(ConfigError, match=r"align.protocol: the authors' bootstrap folds hold out chunks of 20 rows, "
                                          r"but UTS01's \d training stor(y|ies) give \d+ rows"):
        run_study(cfg)
    assert not (tmp_path / "run").exists()


# ---- probe corpora with a single class ------------------------------------------------------------------
def _one_sentence_type(root):
    for path in list(root.rglob("SX3.*")):
        path.unlink()
    return root


def _one_word(root):
    shutil.rmtree(root / "no")
    for name in ("validation_list.txt", "testing_list.txt"):
        (root / name).write_text("".join(f"{line}\n" for line in (root / name).read_text().split() if line.startswith("yes")))
    return root


@pytest.mark.parametrize("corpus, degrade, expected", [
    ("timit", _one_sentence_type, "TIMIT train split: every utterance is of sentence type SA"),
    ("speech_commands", _one_word, "Speech Commands train split: every clip is of the word 'yes'"),
])
def test_a_probe_corpus_with_one_class_is_an_error_before_the_first_cell(corpus, degrade, expected, tmp_path):
    root = degrade(write_timit_layout(tmp_path / "c") if corpus == "timit" else write_commands_layout(tmp_path / "c"))
    found = check_data(corpora={corpus: root}, progress=False)
    assert any(expected in e.message and str(root) in e.message for e in found.errors), [str(e) for e in found.errors]
    with pytest.raises(DataError, match=expected):
        require_study_data(None, {}, rois=False, corpora={corpus: root}, progress=False)


# ---- silent stories --------------------------------------------------------------------------------------
@pytest.mark.parametrize("noise", [0.0, 3e-5])
def test_a_silent_story_is_a_warning_naming_it_in_check_and_in_the_run_log(noise, tmp_path, sim_dataset, caplog):
    root = shutil.copytree(sim_dataset, tmp_path / "data")
    wav = root / "stimuli" / "simstory02.wav"
    audio, rate = sf.read(wav)
    sf.write(wav, noise * np.random.default_rng(0).standard_normal(len(audio)), rate, subtype="PCM_16")
    found = check_data(root, progress=False)
    [warning] = [w for w in found.warnings if "silent" in w.message]
    assert warning.message.startswith(f"{wav}: the audio is silent (RMS ") and "peak" in warning.message
    from braintune.data.fmri import open_dataset

    with caplog.at_level(logging.WARNING):
        open_dataset("ds003020", root).load_audio("simstory02")  # what every stage reading the story calls
    assert any(r.getMessage().startswith(f"{wav}: the audio is silent") for r in caplog.records)


# ---- configs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, kind", [("- models\n- participants\n", "list"), ("3\n", "int"), ("just words\n", "str")])
def test_a_config_that_is_not_a_mapping_is_one_line(text, kind, tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    assert main(["run", str(path)]) == 1
    assert capsys.readouterr().err.strip() == (f"braintune run: error: {path}: a study config is a mapping of settings "
                                               f"(name: value), got a {kind}")


@pytest.mark.parametrize("device, message", [
    ("cuda", "device cuda: no CUDA device here; use cpu or leave it unset"),
    ("cuda:0", "device cuda:0: no CUDA device here; use cpu or leave it unset"),
    ("gpu", "device 'gpu': one of cpu, cuda, cuda:N, mps"),
    ("cuda:x", "device 'cuda:x': one of cpu, cuda, cuda:N, mps"),
    ("mps", "device mps: no MPS device here"),
])
def test_a_device_this_machine_lacks_is_one_line_at_load(device, message, tmp_path, sim_dataset):
    import torch

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU: the names it has are valid here")  # CPU-only CI runs it
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(raw=study(tmp_path, sim_dataset), overrides=[f"device={device}"])


@pytest.mark.parametrize("key, values", [("participants", ["UTS01", "UTS01"]), ("models", ["tiny:hubert", "tiny:hubert"]),
                                         ("layers", [0, 1, 1])])
def test_a_name_listed_twice_is_refused_at_load(key, values, tmp_path, sim_dataset):
    with pytest.raises(ConfigError, match=f"{key}: {values[-1]} listed twice"):
        load_config(raw={**study(tmp_path, sim_dataset), key: values})


def test_a_model_that_is_not_available_stops_the_study_before_the_first_cell(tmp_path, sim_dataset):
    """Named second: the first model's cells must not run for minutes before the run fails."""
    cfg = load_config(raw={**study(tmp_path, sim_dataset), "models": ["tiny:hubert", "nobody/no-such-model"]})
    with pytest.raises(Exception, match="model 'nobody/no-such-model' is neither a local folder nor in the local"):
        run_study(cfg)
    assert not (tmp_path / "run").exists()
