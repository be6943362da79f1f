"""The simulated language signal is word-level, not spectral, yet audible: what the demo's contrast rests on.

Language voxels read out each word's lexical class and syllable count (braintune.data.simulate).
The demo can only show brain-tuned late layers aligning better with them if (1) these
features are not a linear function of the spectral envelope that drives auditory voxels
(else an untrained model would carry them as well as the envelope) and (2) the sound
carries them (else no model could learn them from audio).
"""

import numpy as np

from braintune.data.ds003020 import Dataset
from braintune.data.simulate import FUNCTION_WORDS, LANGUAGE_FEATURES, load_true_features, word_features
from braintune.data.textgrid import read_textgrid


def _stack(features, key):
    return np.concatenate([f[key] for f in features])


def test_language_features_are_not_a_linear_function_of_the_envelope(sim_dataset):
    """Least squares from the 16 log-mel bands to each language feature, on the 0.1 s grid:
    fitted on the training stories, r on the test story stays low (measured ~0.25 and ~0.19),
    while a mel band predicts a neighbouring band well."""
    ds = Dataset(sim_dataset)
    split = ds.split("UTS01")
    train = [load_true_features(sim_dataset, s) for s in split.train]
    test = load_true_features(sim_dataset, split.test)
    A, L = _stack(train, "auditory"), _stack(train, "language")
    assert L.shape[1] == len(LANGUAGE_FEATURES) and A.shape[0] == L.shape[0] > 1000

    def test_r(X, y, X_test, y_test):
        coef = np.linalg.lstsq(np.c_[X, np.ones(len(X))], y, rcond=None)[0]
        return np.corrcoef(np.c_[X_test, np.ones(len(X_test))] @ coef, y_test)[0, 1]

    for j in range(L.shape[1]):
        assert abs(test_r(A, L[:, j], test["auditory"], test["language"][:, j])) < 0.4, LANGUAGE_FEATURES[j]
    others = np.delete(A, 8, axis=1)
    assert test_r(others, A[:, 8], np.delete(test["auditory"], 8, axis=1), test["auditory"][:, 8]) > 0.8


def test_lexical_class_is_audible_in_word_durations(sim_dataset):
    """Content words are spoken much longer than function words, and longer words have more
    syllables: a model that hears the audio can learn both features (measured: 2.3x, r 0.74, r 0.56)."""
    ds = Dataset(sim_dataset)
    values, durations = [], []
    for story in ds.stories:
        tiers = read_textgrid(ds.derivative / "TextGrids" / f"{story}.TextGrid")
        for start, end, word in tiers["word"]:
            if word:
                phones = [p for s, e, p in tiers["phone"] if p and s >= start - 1e-6 and e <= end + 1e-6]
                values.append(word_features(word, phones))
                durations.append(end - start)
    values, durations = np.array(values), np.array(durations)
    content = values[:, 0] > 0
    assert 0.4 < content.mean() < 0.75  # both classes are common
    assert durations[content].mean() > 1.8 * durations[~content].mean()
    assert np.corrcoef(durations, values[:, 0])[0, 1] > 0.6
    assert np.corrcoef(durations, values[:, 1])[0, 1] > 0.4


def test_word_features_known_answers():
    assert {"the", "a", "and", "was"} <= FUNCTION_WORDS
    np.testing.assert_array_equal(word_features("The", ["D", "@"]), [-1.0, 1.0])
    np.testing.assert_array_equal(word_features("bicycle", ["b", "'aI", "s", "I", "k", "@L"]), [1.0, 3.0])
    np.testing.assert_array_equal(word_features("garden", ["g", "'A@", "d", "@", "n"]), [1.0, 2.0])
