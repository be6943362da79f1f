"""The simulated language signal is what was heard, not the sound's spectrum, yet audible: what the demo's contrast rests on.

Language voxels read out fixed random embeddings of the words and of the phone classes
heard over the last seconds (braintune.synthetic.fmri). The demo can only show brain-tuned
late layers aligning better with them if (1) these features are not a linear function of
the spectral envelope that drives auditory voxels (else the pretrained model's early,
acoustic layers would carry them as well as the envelope), (2) the sound carries them
(else no model could learn them from audio), and (3) the ground truth written beside the
corpus is what the voxels read.
"""

from collections import Counter, defaultdict

import numpy as np
import pytest

from braintune.data.fmri.ds003020 import DS003020 as Dataset
from braintune.data.fmri import resolve_split
from braintune.data.textgrid import read_textgrid
from braintune.synthetic.fmri import (
    PHONE_CLASSES, VOCABULARY, Embeddings, history_mean, language_track, load_embeddings, load_true_features,
    log_mel_envelope, phone_classes, span_track,
)


def _settings(root):
    import json

    return json.loads((root / "simulation_truth" / "settings.json").read_text())


def _lstsq_r(X, Y, X_test, Y_test):
    """Per column of Y: r on the test rows of the least-squares fit (with intercept) on the training rows."""
    coef = np.linalg.lstsq(np.c_[X, np.ones(len(X))], Y, rcond=None)[0]
    pred = np.c_[X_test, np.ones(len(X_test))] @ coef
    return np.array([np.corrcoef(pred[:, j], Y_test[:, j])[0, 1] for j in range(Y.shape[1])])


def test_language_features_are_not_a_linear_function_of_the_envelope(sim_dataset):
    """Least squares from the 16 log-mel bands, now and averaged over the same history as the
    language features, to each language column on the 0.1 s grid: fitted on the training
    stories, it explains little of them on the test story (measured on the fixture: mean r
    0.11 for the word columns, 0.41 for the phone columns, whose mix shapes the average
    spectrum; mean r^2 0.11), while the other bands predict a mel band well (r 0.96)."""
    ds = Dataset(sim_dataset)
    split = resolve_split(ds, ["UTS01"])["UTS01"]
    history, word_dims = _settings(sim_dataset)["history_seconds"], _settings(sim_dataset)["word_dims"]

    def envelope(f):
        return np.hstack([f["auditory"], history_mean(f["auditory"], history)])

    train = [load_true_features(sim_dataset, s) for s in split.train]
    test = load_true_features(sim_dataset, split.test)
    A, L = np.concatenate([envelope(f) for f in train]), np.concatenate([f["language"] for f in train])
    assert A.shape[0] == L.shape[0] > 1000
    r = _lstsq_r(A, L, envelope(test), test["language"])
    assert r[:word_dims].mean() < 0.3 and r[word_dims:].mean() < 0.5, r
    assert (r ** 2).mean() < 0.15, r  # the envelope explains < 15% of the language features' variance
    band = _lstsq_r(np.delete(A, 8, axis=1), A[:, [8]], np.delete(envelope(test), 8, axis=1), test["auditory"][:, [8]])
    assert band[0] > 0.8


def _phones_of_words(ds, story):
    """word -> the phone classes whose midpoints fall within its span, for each word of the story."""
    tiers = read_textgrid(ds.derivative / "TextGrids" / f"{story}.TextGrid")
    phones = [((s + e) / 2, c) for s, e, label in tiers["phone"] for c in phone_classes(label)]
    return [(w.lower(), tuple(c for t, c in phones if s <= t < e)) for s, e, w in tiers["word"] if w]


def test_word_identity_is_audible(sim_dataset):
    """espeak-ng speaks each word type with (nearly) one phone sequence, and different word
    types with different sequences: which word was heard is a function of the phones heard.
    Measured on the fixture: 91% of tokens are spoken as their type's usual sequence (the rest
    differ at a boundary between words, or by context, as "the" before a vowel); no two of its 250
    word types share one."""
    ds = Dataset(sim_dataset)
    spoken = defaultdict(Counter)
    for story in ds.stories:
        for word, phones in _phones_of_words(ds, story):
            spoken[word][phones] += 1
    assert set(spoken) <= set(VOCABULARY) and len(spoken) > 150
    tokens = sum(sum(c.values()) for c in spoken.values())
    usual = {w: c.most_common(1)[0][0] for w, c in spoken.items()}
    assert sum(spoken[w][usual[w]] for w in spoken) > 0.85 * tokens
    shared = len(usual) - len(set(usual.values()))
    assert shared < 0.05 * len(usual), shared


def test_phone_classes_are_audible(sim_dataset):
    """A phone's mean log-mel spectrum over its span (10 ms frames) tells its class: nearest
    class centroid, centroids from the training stories, on the test story's phones (measured
    on the fixture: 56% correct over 38 classes, where always guessing the most common class
    gives 10%)."""
    ds = Dataset(sim_dataset)
    split = resolve_split(ds, ["UTS01"])["UTS01"]

    def spectra(story):
        mel = log_mel_envelope(ds.load_audio(story), 16, dt=0.01)
        tiers = read_textgrid(ds.derivative / "TextGrids" / f"{story}.TextGrid")
        out = []
        for s, e, label in tiers["phone"]:
            classes = phone_classes(label)
            a = int(round(s / 0.01))
            if len(classes) == 1 and a < len(mel):
                out.append((classes[0], mel[a: max(a + 1, int(round(e / 0.01)))].mean(axis=0)))
        return out

    train = [x for story in split.train for x in spectra(story)]
    test = spectra(split.test)
    classes = sorted({c for c, _ in train})
    centroids = np.array([np.mean([v for c, v in train if c == k], axis=0) for k in classes])
    guess = [classes[int(np.argmin(((centroids - v) ** 2).sum(axis=1)))] for _, v in test]
    accuracy = np.mean([g == c for g, (c, _) in zip(guess, test)])
    most_common = Counter(c for c, _ in test).most_common(1)[0][1] / len(test)
    assert accuracy > 2.5 * most_common, (accuracy, most_common)


def test_embeddings_and_tracks_by_hand():
    """A tiny example computed by hand: word spans, a two-class phoneme split in halves, centring
    over the spans, the causal history mean; and unknown or silent phonemes give nothing."""
    assert phone_classes("'A@") == ("aa", "r") and phone_classes("t") == ("t",) and phone_classes(";") == ()
    assert phone_classes("") == () and phone_classes("'O:") == ("aa",)  # ao folds to aa
    assert len(PHONE_CLASSES) == 38 and "sil" not in PHONE_CLASSES
    words = np.zeros((len(VOCABULARY), 2))
    words[VOCABULARY.index("the")], words[VOCABULARY.index("dog")] = [1.0, 0.0], [0.0, 3.0]
    phones = np.zeros((len(PHONE_CLASSES), 1))
    phones[PHONE_CLASSES.index("aa")], phones[PHONE_CLASSES.index("r")] = [2.0], [4.0]
    emb = Embeddings(words, phones)

    spans = emb.word_spans([("The", 0.0, 0.2), ("dog", 0.3, 0.5), ("zzz", 0.5, 0.6)])
    assert [(s, e) for s, e, _ in spans] == [(0.0, 0.2), (0.3, 0.5)]  # unknown word skipped
    track = span_track(spans, 6)  # mean vector (0.5, 1.5) subtracted
    np.testing.assert_array_equal(track, [[0.5, -1.5], [0.5, -1.5], [0, 0], [-0.5, 1.5], [-0.5, 1.5], [0, 0]])
    np.testing.assert_allclose(history_mean(track, 0.2), [[0.5, -1.5], [0.5, -1.5], [0.25, -0.75], [-0.25, 0.75],
                                                          [-0.5, 1.5], [-0.25, 0.75]])
    phone_spans = emb.phone_spans([(0.0, 0.4, "'A@"), (0.4, 0.5, ";")])
    assert [(s, e, v[0]) for s, e, v in phone_spans] == [(0.0, 0.2, 2.0), (0.2, 0.4, 4.0)]
    lang = language_track(emb, [("the", 0.0, 0.2), ("dog", 0.3, 0.5)], [(0.0, 0.4, "'A@")], 6, history_seconds=0.1)
    np.testing.assert_array_equal(lang, np.c_[track, [-1, -1, 1, 1, 0, 0]])
    with pytest.raises(ValueError, match="no spans"):
        span_track([], 3)


def test_ground_truth_is_what_the_voxels_read(sim_dataset):
    """The embeddings saved in simulation_truth/, applied to a story's TextGrid, give the
    language features saved for it (z-scored), whose read-out is the language voxels' signal
    (tests/test_simulate.py::test_true_features_reproduce_the_signal)."""
    from braintune.arrays import zscore

    ds = Dataset(sim_dataset)
    settings = _settings(sim_dataset)
    emb = load_embeddings(sim_dataset)
    assert emb.word_vectors.shape == (len(VOCABULARY), settings["word_dims"])
    assert emb.phone_vectors.shape == (len(PHONE_CLASSES), settings["phone_dims"])
    for story in ("simstory01", "wheretheressmoke"):
        tiers = read_textgrid(ds.derivative / "TextGrids" / f"{story}.TextGrid")
        words = [(w, s, e) for s, e, w in tiers["word"] if w]
        saved = load_true_features(sim_dataset, story)["language"]
        track = language_track(emb, words, tiers["phone"], len(saved), settings["history_seconds"])
        # the TextGrid rounds times to the microsecond: a boundary may move by one 0.1 s step
        r = [np.corrcoef(zscore(track, dtype=np.float64)[:, j], saved[:, j])[0, 1] for j in range(saved.shape[1])]
        assert min(r) > 0.99, r
