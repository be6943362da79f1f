"""Linear probes, their splits, the feature cache and the `braintune probe` command."""

import numpy as np
import pandas as pd
import pytest

from braintune import models
from braintune.arrays import zscore
from braintune.data import speech_commands, timit
from braintune.probing import (
    ItemSet,
    ProbeSettings,
    Split,
    classifier_probe,
    extract,
    mfcc_frames,
    multilabel_probe,
    ridge_probe,
    speech_commands_corpus,
    timit_corpus,
)
from braintune.probing.probes import LOGISTIC_CS, RIDGE_ALPHAS, _fit_binary_logistics
from braintune.probing.tasks import REGISTRY


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
    fitted_arguments = {"_standardise": lambda a: [a[0][a[1]]],  # statistics from the fit rows only
                        "ridge_predict": lambda a: a[:2], "_logistic": lambda a: a[:2],
                        "_fit_binary_logistics": lambda a: a[:2]}
    for name, fitted in fitted_arguments.items():
        real = getattr(probes, name)

        def spy(*args, _real=real, _fitted=fitted, **kwargs):
            seen.append(max(np.abs(np.asarray(a, float)).max() for a in _fitted(args)))
            return _real(*args, **kwargs)

        monkeypatch.setattr(probes, name, spy)
    probes.ridge_probe(x, y, split)
    probes.classifier_probe(x, labels, split)
    probes.multilabel_probe(x, multi, split)
    assert len(seen) > 20 and max(seen) < marker
    with pytest.raises(ValueError, match="overlap"):
        Split(np.arange(10), np.arange(10, 12), np.arange(11, 15))


def _standardised(fit: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """By hand: both arrays z-scored with the statistics of `fit`."""
    mean, sd = fit.mean(axis=0), fit.std(axis=0)
    return (fit - mean) / sd, (other - mean) / sd


def _roles(n_fit: int, n_val: int, n_test: int) -> Split:
    return Split(np.arange(n_fit), n_fit + np.arange(n_val), n_fit + n_val + np.arange(n_test))


def test_ridge_alpha_is_chosen_on_validation_and_refit_on_fit_plus_validation():
    """Guards against the ridge probe choosing alpha on the test rows, and against refitting
    it on the fit rows only instead of fit + validation. The validation rows (a weak, shifted
    echo of the fit rows' mapping) prefer alpha 100 and the test rows alpha 10; sklearn's
    Ridge on features z-scored by hand is the oracle. Either bug changes the reported R² by
    more than 0.1 (0.319 against 0.486 or 0.468), far beyond float64 rounding."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    split = _roles(60, 100, 100)
    w = rng.standard_normal((20, 3))
    x = rng.standard_normal((260, 20))
    y = x @ w
    y[split.fit] += 2.0 * rng.standard_normal((60, 3))
    y[split.validation] = 0.2 * y[split.validation] + 3.0 + 0.5 * rng.standard_normal((100, 3))

    def oracle(choose_on, refit_on):
        """(alpha chosen by R² on `choose_on` after fitting the fit rows, test R² after refitting on `refit_on`)"""
        x_fit, x_choose = _standardised(x[split.fit], x[choose_on])
        r2 = [r2_score(y[choose_on], Ridge(alpha=a).fit(x_fit, y[split.fit]).predict(x_choose)) for a in RIDGE_ALPHAS]
        alpha = RIDGE_ALPHAS[int(np.argmax(r2))]
        x_refit, x_test = _standardised(x[refit_on], x[split.test])
        return alpha, r2_score(y[split.test], Ridge(alpha=alpha).fit(x_refit, y[refit_on]).predict(x_test))

    alpha, r2 = oracle(split.validation, split.train)
    on_test, refit_fit_only = oracle(split.test, split.train), oracle(split.validation, split.fit)
    assert alpha == 100 and on_test[0] == 10  # the data make the bugs visible ...
    assert abs(on_test[1] - r2) > 0.1 and abs(refit_fit_only[1] - r2) > 0.1  # ... in the score too
    result = ridge_probe(x, y, split)
    assert result.chosen["alpha"] == alpha
    assert result.scores["r2"] == pytest.approx(r2, rel=0, abs=1e-9)


def _two_rules(seed: int = 0):
    """2-D features, correlated (0.9) on fit and test rows, independent on validation rows;
    the rule x0 - 0.9 x1 > 0 (which weak regularisation finds) and the rule x0 > 0 (the class
    means' direction, which strong regularisation keeps). -> x (600, 2), rule, means_rule, split"""
    rng = np.random.default_rng(seed)
    split = _roles(200, 200, 200)
    correlated = np.linalg.cholesky(np.array([[1.0, 0.9], [0.9, 1.0]]))
    x = rng.standard_normal((600, 2))
    x[split.fit] @= correlated.T
    x[split.test] @= correlated.T
    return x, (x[:, 0] - 0.9 * x[:, 1] > 0).astype(np.int8), (x[:, 0] > 0).astype(np.int8), split


def test_classifier_C_is_chosen_on_validation_and_refit_on_fit_plus_validation():
    """Guards against the classifier probe (words, sentence type) choosing C on the test rows:
    validation labels follow the class means' direction (best at C = 1e-4), test labels the
    fit rows' rule (best at C = 10). The oracle is sklearn's LogisticRegression on features
    z-scored by hand, chosen on validation and refit on fit + validation; choosing on test
    would report macro-F1 0.87 instead of 0.35."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    x, rule, means_rule, split = _two_rules()
    labels = np.where(np.isin(np.arange(len(x)), split.validation), means_rule, rule)

    def oracle(choose_on):
        def fit(rows, c):
            return LogisticRegression(C=c, max_iter=500, random_state=0).fit(
                _standardised(x[rows], x[:1])[0], labels[rows])

        x_choose = _standardised(x[split.fit], x[choose_on])[1]
        f1 = [f1_score(labels[choose_on], fit(split.fit, c).predict(x_choose), average="macro") for c in LOGISTIC_CS]
        c = LOGISTIC_CS[int(np.argmax(f1))]
        pred = fit(split.train, c).predict(_standardised(x[split.train], x[split.test])[1])
        return c, {a: f1_score(labels[split.test], pred, average=a) for a in ("macro", "micro")}

    c, f1 = oracle(split.validation)
    on_test = oracle(split.test)
    assert c == 1e-4 and on_test[0] == 10 and on_test[1]["macro"] - f1["macro"] > 0.3
    result = classifier_probe(x, labels, split)
    assert result.chosen["C"] == c
    assert result.scores == pytest.approx({"macro_f1": f1["macro"], "micro_f1": f1["micro"]}, rel=0, abs=1e-12)


def test_multilabel_C_is_chosen_on_validation_per_label():
    """Guards against the phoneme probe choosing C on the test rows: label 0 prefers C = 1e-4 on
    validation and C = 10 on test, label 1 the reverse. The oracle is one sklearn
    LogisticRegression per label (tight tolerance) on features z-scored by hand, chosen on
    validation and refit on fit + validation; its test decisions lie at least 0.025 from the
    boundary, so the solvers' differences (~1e-4) cannot change them. Choosing on test would
    report macro-F1 0.43 instead of 0.31."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    x, rule, means_rule, split = _two_rules()
    labels = np.stack([rule, rule], axis=1)
    labels[split.validation, 0] = means_rule[split.validation]
    labels[split.test, 1] = means_rule[split.test]

    def oracle(choose_on):
        x_fit, x_choose = _standardised(x[split.fit], x[choose_on])
        x_train, x_test = _standardised(x[split.train], x[split.test])
        chosen, pred = [], []
        for j in range(2):
            def fit(xs, rows, c):
                return LogisticRegression(C=c, tol=1e-10, max_iter=10_000).fit(xs, labels[rows, j])

            f1 = [f1_score(labels[choose_on, j], fit(x_fit, split.fit, c).predict(x_choose)) for c in LOGISTIC_CS]
            chosen.append(LOGISTIC_CS[int(np.argmax(f1))])
            pred.append(fit(x_train, split.train, chosen[-1]).predict(x_test))
        pred = np.stack(pred, axis=1)
        return chosen, {a: f1_score(labels[split.test], pred, average=a) for a in ("macro", "micro")}

    chosen, f1 = oracle(split.validation)
    on_test = oracle(split.test)
    assert chosen == [1e-4, 10] and on_test[0] == [10, 1e-4] and on_test[1]["macro"] - f1["macro"] > 0.1
    result = multilabel_probe(x, labels, split)
    assert result.chosen == {"C_0": 1e-4, "C_1": 10}
    assert result.scores == pytest.approx({"macro_f1": f1["macro"], "micro_f1": f1["micro"]}, rel=0, abs=1e-12)


def test_zscore_applies_the_reference_statistics():
    """Guards against probes z-scoring test rows with their own statistics (which leaks the
    test rows' mean and spread into the features): rows are scaled by the reference rows'
    mean and sd; a column constant in the reference becomes 0."""
    fit = np.array([[1.0, 5.0], [3.0, 5.0]])
    other = np.array([[2.0, 7.0], [5.0, 1.0]])
    np.testing.assert_array_equal(zscore(other, reference=fit, dtype=np.float64), [[0.0, 0.0], [3.0, 0.0]])
    np.testing.assert_array_equal(zscore(fit, dtype=np.float64), zscore(fit, reference=fit, dtype=np.float64))


def test_task_registry_is_the_settings_choice():
    """Guards against a task module that is not registered, or a registered task that the
    settings, the CLI and the study cannot choose: one task per module of
    braintune/probing/tasks, all of them the choices and the default of ProbeSettings.tasks."""
    import pkgutil

    import braintune.probing.tasks as tasks
    from braintune.probing import CORPORA, PROBES, TASKS

    modules = {m.name for m in pkgutil.iter_modules(tasks.__path__)}
    assert {name.replace("-", "_") for name in REGISTRY} == modules == {"mfcc", "words", "phonemes", "sentence_type"}
    assert TASKS == tuple(REGISTRY) and ProbeSettings().tasks == list(TASKS)
    for task in REGISTRY.values():
        assert task.corpus in CORPORA and (task.probe in PROBES or callable(task.probe)), task.name
    assert ProbeSettings(tasks=["words"]).corpora == ["speech_commands"]


def test_timit_rows_hold_out_test_speakers_and_validate_on_training_speakers(standin_timit):
    settings = ProbeSettings(segment_seconds=0.5, frames_per_utterance=10)
    corpus = timit_corpus(standin_timit, settings, seed=0)
    roles = {r: {u.speaker for u, role in zip(corpus.items, corpus.role) if role == r}
             for r in ("fit", "validation", "test")}
    train_speakers = {u.speaker for u in timit.list_utterances(standin_timit, "train")}
    assert roles["test"] == {u.speaker for u in timit.list_utterances(standin_timit, "test")}
    assert roles["fit"] | roles["validation"] == train_speakers and len(roles["validation"]) == 1
    assert not roles["fit"] & roles["validation"] and not roles["test"] & train_speakers
    rows = {name: REGISTRY[name].rows(corpus, settings, 0) for name in ("mfcc", "phonemes", "sentence-type")}
    for data in rows.values():
        owners = data.spans[:, 0]
        assert {corpus.items[i].split for i in owners[data.split.test]} == {"TEST"}
        assert {corpus.items[i].speaker for i in owners[data.split.train]} == train_speakers
    # MFCC rows: 10 single frames per utterance, labelled with their own MFCCs
    mfcc = rows["mfcc"]
    assert (np.bincount(mfcc.spans[:, 0]) == 10).all() and (mfcc.spans[:, 2] - mfcc.spans[:, 1] == 1).all()
    first = mfcc.spans[:, 0] == 0
    np.testing.assert_array_equal(mfcc.labels[first], mfcc_frames(corpus.load(0))[mfcc.spans[first, 1]])
    # segments: half-second pieces whose phones are those of their utterance
    segs = rows["phonemes"].spans
    assert (segs[:, 2] - segs[:, 1]).max() == 25 and len(segs) > 2 * len(corpus.items)
    first = segs[:, 0] == 0
    phones = timit.read_phones(corpus.items[0])
    expected = set().union(*[timit.phone_set(phones, a * 320, (b - 1) * 320 + 400) for _, a, b in segs[first]])
    labels = rows["phonemes"].labels[first]
    assert {timit.PHONES_39[j] for j in np.flatnonzero(labels.max(axis=0))} == expected
    assert rows["sentence-type"].labels.tolist() == [u.sentence_type for u in corpus.items]


def test_feature_cache_is_reused_only_when_settings_match(standin_commands, tiny_model, tmp_path, monkeypatch):
    corpus = speech_commands_corpus(standin_commands)
    data = REGISTRY["words"].rows(corpus, ProbeSettings(), 0)
    assert [corpus.items[i].split for i in data.split.test] == ["test"] * 35
    items = ItemSet(corpus.name, corpus.fingerprints, corpus.n_samples, corpus.load, data.spans[:6])  # six clips
    items.spans[5] = (2, 10, 11)  # and one frame of the third
    feats = extract(tiny_model, items, tmp_path, progress=False)
    clip = speech_commands.read_clip(corpus.items[2])
    import torch

    with torch.inference_mode():
        states = models.hidden_states(tiny_model, torch.from_numpy(clip)[None])
    for layer in (0, 2):
        np.testing.assert_allclose(feats.pooled(layer)[2], states[layer][0].mean(0).numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(feats.pooled(layer)[5], states[layer][0, 10].numpy(), rtol=1e-4, atol=1e-5)

    def fail(*args, **kwargs):
        raise AssertionError("features were recomputed")

    monkeypatch.setattr(models, "hidden_states", fail)
    assert extract(tiny_model, items, tmp_path, progress=False).folder == feats.folder
    items.spans = items.spans[:5]
    with pytest.raises(AssertionError, match="recomputed"):
        extract(tiny_model, items, tmp_path, progress=False)
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
