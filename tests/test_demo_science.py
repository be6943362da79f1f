"""The simulated language signal is word-level, not spectral, yet audible: what the demo's contrast rests on.

Language voxels read out each word's lexical class and spoken duration (braintune.synthetic.fmri).
The demo can only show brain-tuned late layers aligning better with them if (1) these
features are not a linear function of the spectral envelope that drives auditory voxels
(else an untrained model would carry them as well as the envelope) and (2) the sound
carries them (else no model could learn them from audio).
"""

import numpy as np

from braintune.data.ds003020 import Dataset, resolve_split
from braintune.synthetic.fmri import FUNCTION_WORDS, LANGUAGE_FEATURES, load_true_features, word_features
from braintune.data.textgrid import read_textgrid


def _stack(features, key):
    return np.concatenate([f[key] for f in features])


def test_language_features_are_not_a_linear_function_of_the_envelope(sim_dataset):
    """Least squares from the 16 log-mel bands to each language feature, on the 0.1 s grid:
    fitted on the training stories, r on the test story stays low (measured 0.25 and 0.18),
    while a mel band predicts a neighbouring band well."""
    ds = Dataset(sim_dataset)
    split = resolve_split(ds, ["UTS01"])["UTS01"]
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


def test_language_features_are_audible(sim_dataset):
    """Content words are spoken longer than function words, and the pace changes from sentence
    to sentence (PACE_RANGE): a model that hears the audio can learn both features. Measured on
    the fixture: content/function duration 2.3x, r(duration, class) 0.61; consecutive words'
    content words' durations correlate (r 0.29) through their sentence's pace."""
    ds = Dataset(sim_dataset)
    values = []
    for story in ds.stories:
        tiers = read_textgrid(ds.derivative / "TextGrids" / f"{story}.TextGrid")
        values += [word_features(word, end - start) for start, end, word in tiers["word"] if word]
    values = np.array(values)
    content, duration = values[:, 0] > 0, values[:, 1]
    assert 0.4 < content.mean() < 0.75  # both classes are common
    assert duration[content].mean() > 1.8 * duration[~content].mean()
    assert np.corrcoef(duration, values[:, 0])[0, 1] > 0.45
    # a content word's duration predicts the next content word's: the pace they share
    d = duration[content]
    assert np.corrcoef(d[:-1], d[1:])[0, 1] > 0.15


def test_word_features_known_answers():
    assert {"the", "a", "and", "was"} <= FUNCTION_WORDS
    np.testing.assert_array_equal(word_features("The", 0.12), [-1.0, 0.12])
    np.testing.assert_array_equal(word_features("bicycle", 0.5), [1.0, 0.5])
    np.testing.assert_array_equal(word_features("was", 0.2), [-1.0, 0.2])
