"""Linear probes, their splits, the feature cache and the `braintune probe` command."""

import numpy as np
import pandas as pd
import pytest

from braintune import models
from braintune.data import speech_commands, timit
from braintune.probing import (
    Split,
    classifier_probe,
    extract,
    mfcc_frames,
    multilabel_probe,
    ridge_probe,
    speech_commands_probe_data,
    timit_probe_data,
)
from braintune.probing.probes import _fit_binary_logistics


@pytest.fixture(scope="module")
def tiny_model():
    return models.load_encoder("tiny:wav2vec2", device="cpu")


def _speaker_split(groups, n_val=1, n_test=2):
    """Rows split by group id: the last n_test groups test, the n_val before them validate."""
    ids = np.unique(groups)
    test, val = ids[-n_test:], ids[-n_test - n_val:-n_test]
    return Split(np.flatnonzero(~np.isin(groups, np.r_[test, val])), np.flatnonzero(np.isin(groups, val)),
                 np.flatnonzero(np.isin(groups, test)))


def test_mfcc_frames_match_the_model_frames():
    for n in (400, 719, 720, 16000, 39391):
        assert mfcc_frames(np.random.default_rng(n).standard_normal(n)).shape == (models.num_frames(n), 13)


@pytest.fixture(scope="module")
def timit_mfcc(standin_timit):
    """(frames, 13) MFCCs of the stand-in TRAIN utterances and each frame's utterance index."""
    utts = timit.list_utterances(standin_timit, "train")
    m = [mfcc_frames(timit.read_audio(u)) for u in utts]
    return np.concatenate(m), np.repeat(np.arange(len(m)), [len(x) for x in m])


def test_ridge_on_the_mfccs_themselves_gives_r2_one_and_on_noise_zero(timit_mfcc):
    y, utt = timit_mfcc
    split = _speaker_split(utt, n_val=6, n_test=14)
    assert ridge_probe(y, y, split).scores["r2"] > 0.999
    noise = np.random.default_rng(0).standard_normal((len(y), 32)).astype(np.float32)
    r2 = ridge_probe(noise, y, split)
    # validation picks strong shrinkage: the prediction is about the training mean
    assert -0.05 < r2.scores["r2"] < 0.01 and r2.chosen["alpha"] >= 1e4
    mixed = ridge_probe(np.hstack([y[:, :6], noise]), y, split).scores["r2"]  # half the coefficients known
    assert 0.4 < mixed < 0.75


def _blobs(n_classes=5, per_class=40, dims=20, signal=3.0, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    centres = rng.standard_normal((n_classes, dims)) * signal
    return centres[labels] + rng.standard_normal((len(labels), dims)), labels, rng.permutation(len(labels))


def test_classifier_beats_chance_on_informative_features_and_not_on_noise():
    x, labels, order = _blobs()
    split = Split(order[:120], order[120:150], order[150:])
    good = classifier_probe(x, labels, split).scores
    assert good["macro_f1"] > 0.95 and good["micro_f1"] > 0.95  # chance: 0.2
    noise = np.random.default_rng(1).standard_normal(x.shape)
    bad = classifier_probe(noise, labels, split).scores
    assert bad["macro_f1"] < 0.4 and bad["micro_f1"] < 0.4


def test_multilabel_probe_beats_base_rate_on_informative_features_and_not_on_noise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 30))
    w = rng.standard_normal((30, 8))
    labels = (x @ w + 0.3 * rng.standard_normal((400, 8)) > 0.5).astype(np.int8)
    labels[:, 7] = 1  # a label present everywhere (like silence in whole utterances)
    split = Split(np.arange(240), np.arange(240, 300), np.arange(300, 400))
    good = multilabel_probe(x, labels, split).scores
    assert good["macro_f1"] > 0.85 and good["micro_f1"] > 0.85
    bad = multilabel_probe(rng.standard_normal(x.shape), labels, split).scores
    assert bad["macro_f1"] < 0.55  # predicting all-positive gives ~0.5 on the 7 varying labels


def test_joint_logistic_fit_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    x, labels, _ = _blobs(n_classes=2, per_class=50, dims=5, signal=0.7)
    w = _fit_binary_logistics(x, labels[:, None].astype(float), c=0.3)
    ref = LogisticRegression(C=0.3, tol=1e-8, max_iter=1000).fit(x, labels)
    np.testing.assert_allclose(w[:-1, 0], ref.coef_[0], atol=1e-4)
    np.testing.assert_allclose(w[-1, 0], ref.intercept_[0], atol=1e-4)


def test_test_rows_are_never_used_for_fitting_or_selection(monkeypatch):
    from braintune.probing import probes

    x, labels, order = _blobs(signal=0.6)
    split = Split(order[:120], order[120:150], order[150:])
    marker = 1e6  # test rows carry it in features and targets; no fit may see it
    x[split.test] = marker
    y = np.random.default_rng(7).standard_normal((len(x), 3))
    y[split.test] = marker
    multi = (y > 0).astype(np.int8)
    seen = []
    for name in ("_zscore", "_ridge_weights", "_logistic", "_fit_binary_logistics"):
        real = getattr(probes, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            fitted = args[:2] if _name != "_zscore" else args[:1]  # _zscore: stats from the first array only
            seen.append(max(np.abs(np.asarray(a, float)).max() for a in fitted))
            return _real(*args, **kwargs)

        monkeypatch.setattr(probes, name, spy)
    probes.ridge_probe(x, y, split)
    probes.classifier_probe(x, labels, split)
    probes.multilabel_probe(x, multi, split)
    assert len(seen) > 20 and max(seen) < marker
    with pytest.raises(ValueError, match="overlap"):
        Split(np.arange(10), np.arange(10, 12), np.arange(11, 15))


def test_timit_splits_hold_out_test_speakers_and_validate_on_training_speakers(standin_timit):
    data = timit_probe_data(standin_timit, segment_seconds=0.5, frames_per_utterance=10, seed=0)
    roles = {r: {u.speaker for u, role in zip(data.utterances, data.role) if role == r}
             for r in ("fit", "validation", "test")}
    train_speakers = {u.speaker for u in timit.list_utterances(standin_timit, "train")}
    assert roles["test"] == {u.speaker for u in timit.list_utterances(standin_timit, "test")}
    assert roles["fit"] | roles["validation"] == train_speakers and len(roles["validation"]) == 1
    assert not roles["fit"] & roles["validation"] and not roles["test"] & train_speakers
    for owners in (data.items.picks[:, 0], data.segment_utterance):  # MFCC frames, phoneme segments
        split = data.split_of(owners)
        assert {data.utterances[i].split for i in owners[split.test]} == {"TEST"}
        assert {data.utterances[i].speaker for i in owners[split.train]} == train_speakers
    # segments: half-second pieces whose phones are those of their utterance
    whole = data.items.spans[: len(data.utterances)]
    segs = data.items.spans[data.segment_rows]
    assert (segs[:, 2] - segs[:, 1]).max() == 25 and len(segs) > 2 * len(whole)
    first = np.flatnonzero(data.segment_utterance == 0)
    phones = timit.read_phones(data.utterances[0])
    expected = set().union(*[timit.phone_set(phones, a * 320, (b - 1) * 320 + 400) for _, a, b in segs[first]])
    assert {timit.PHONES_39[j] for j in np.flatnonzero(data.phone_labels[first].max(axis=0))} == expected
    assert (np.bincount(data.items.picks[:, 0]) == 10).all()


def test_feature_cache_is_reused_only_when_settings_match(standin_commands, tiny_model, tmp_path, monkeypatch):
    data = speech_commands_probe_data(standin_commands)
    assert [c.split for c in np.array(data.clips)[data.split.test]] == ["test"] * 35
    data.items.spans = data.items.spans[:6]  # six clips are enough here
    feats = extract(tiny_model, data.items, tmp_path, progress=False)
    clip = speech_commands.read_clip(data.clips[2])
    import torch

    with torch.inference_mode():
        states = models.hidden_states(tiny_model, torch.from_numpy(clip)[None])
    for layer in (0, 2):
        np.testing.assert_allclose(feats.pooled(layer)[2], states[layer][0].mean(0).numpy(), rtol=1e-4, atol=1e-5)

    def fail(*args, **kwargs):
        raise AssertionError("features were recomputed")

    monkeypatch.setattr(models, "hidden_states", fail)
    assert extract(tiny_model, data.items, tmp_path, progress=False).folder == feats.folder
    data.items.spans = data.items.spans[:5]
    with pytest.raises(AssertionError, match="recomputed"):
        extract(tiny_model, data.items, tmp_path, progress=False)
    assert [p.name for p in (tmp_path / "tiny-wav2vec2").iterdir()] == [feats.folder.name]  # no temp left


def test_probe_command_end_to_end(standin_timit, standin_commands, tmp_path):
    from braintune.cli import main

    out = tmp_path / "probe"
    argv = ["probe", "--model", "tiny:wav2vec2", "--tasks", "mfcc", "words", "phonemes", "sentence-type",
            "--timit", str(standin_timit), "--speech-commands", str(standin_commands), "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out / "probes.csv")
    pd.testing.assert_frame_equal(table, pd.read_parquet(out / "probes.parquet"))
    assert list(table.columns) == ["model", "layer", "task", "metric", "value"]
    assert len(table) == 3 * 7 and set(table.model) == {"tiny-wav2vec2"}
    counts = table.groupby("task").size().to_dict()
    assert counts == {"mfcc": 3, "words": 6, "phonemes": 6, "sentence-type": 6}
    assert table.value.between(-1, 1).all()
    f1 = table.set_index(["task", "metric", "layer"]).value.sort_index()
    # majority-free chance levels: 35 words, 3 sentence types
    assert f1["words", "micro_f1"].max() > 2 / 35 and f1["sentence-type", "micro_f1"].max() > 0.5
    assert main([*argv, "--layers", "7"]) == 1  # out of range: one-line error
