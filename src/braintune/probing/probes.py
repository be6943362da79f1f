"""Linear probes on feature arrays: ridge regression (R²) and logistic classifiers (F1).

Every probe takes row indices for three disjoint sets: `fit` (trains), `validation`
(chooses the regularisation) and `test` (scored once, with the chosen setting refit on
fit + validation). Test rows are never used for fitting or for choosing. Features are
z-scored with the statistics of the rows being fit.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, r2_score

RIDGE_ALPHAS = tuple(10.0 ** k for k in range(-2, 7))  # on z-scored features
LOGISTIC_CS = tuple(10.0 ** k for k in range(-4, 2))


@dataclass(frozen=True)
class Split:
    """Disjoint row indices: fit, validation (chooses hyperparameters) and test (scored)."""

    fit: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def __post_init__(self):
        sets = [set(np.asarray(a).tolist()) for a in (self.fit, self.validation, self.test)]
        if sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2]:
            raise ValueError("fit, validation and test rows overlap")
        if not all(sets):
            raise ValueError("fit, validation and test sets must all be non-empty")

    @property
    def train(self) -> np.ndarray:
        """fit + validation: the rows the final model is refit on."""
        return np.concatenate([self.fit, self.validation])


@dataclass
class ProbeResult:
    """Test scores (metric -> value) and the hyperparameter(s) chosen on validation."""

    scores: dict[str, float]
    chosen: dict[str, float] = field(default_factory=dict)


def _zscore(fit_rows: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mean = fit_rows.mean(axis=0)
    std = fit_rows.std(axis=0)
    std[std < 1e-8] = 1.0
    return [((a - mean) / std).astype(np.float64) for a in (fit_rows, *others)]


def _ridge_weights(x: np.ndarray, y: np.ndarray, alphas) -> list[tuple[np.ndarray, np.ndarray]]:
    """Ridge solutions (W, intercept) for every alpha from one eigendecomposition of XᵀX (centred)."""
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    evals, evecs = np.linalg.eigh(xc.T @ xc)
    proj = evecs.T @ (xc.T @ yc)
    out = []
    for alpha in alphas:
        w = evecs @ (proj / (np.maximum(evals, 0.0) + alpha)[:, None])
        out.append((w, y_mean - x_mean @ w))
    return out


def ridge_probe(features: np.ndarray, targets: np.ndarray, split: Split, alphas=RIDGE_ALPHAS) -> ProbeResult:
    """Ridge regression from features (rows, dims) to targets (rows, outputs).

    alpha maximises validation R²; score "r2" is the test R² averaged uniformly over outputs.
    """
    x_fit, x_val = _zscore(features[split.fit], features[split.validation])
    y_fit, y_val = targets[split.fit].astype(np.float64), targets[split.validation]
    val_r2 = [r2_score(y_val, x_val @ w + b) for w, b in _ridge_weights(x_fit, y_fit, alphas)]
    alpha = alphas[int(np.argmax(val_r2))]
    x_train, x_test = _zscore(features[split.train], features[split.test])
    (w, b), = _ridge_weights(x_train, targets[split.train].astype(np.float64), [alpha])
    r2 = r2_score(targets[split.test], x_test @ w + b, multioutput="uniform_average")
    return ProbeResult({"r2": float(r2)}, {"alpha": float(alpha)})


def _logistic(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=500, random_state=seed).fit(x, y)


def classifier_probe(features: np.ndarray, labels: np.ndarray, split: Split, cs=LOGISTIC_CS,
                     seed: int = 0) -> ProbeResult:
    """Multinomial logistic regression from features (rows, dims) to labels (rows,).

    C maximises validation macro-F1; scores are test "macro_f1" and "micro_f1".
    """
    x_fit, x_val = _zscore(features[split.fit], features[split.validation])
    val_f1 = [f1_score(labels[split.validation], _logistic(x_fit, labels[split.fit], c, seed).predict(x_val),
                       average="macro", zero_division=0) for c in cs]
    c = cs[int(np.argmax(val_f1))]
    x_train, x_test = _zscore(features[split.train], features[split.test])
    pred = _logistic(x_train, labels[split.train], c, seed).predict(x_test)
    truth = labels[split.test]
    return ProbeResult({"macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
                        "micro_f1": float(f1_score(truth, pred, average="micro", zero_division=0))},
                       {"C": float(c)})


def _binary_predictions(x_fit, y_fit, x_eval, c, seed) -> np.ndarray:
    """One label column: a logistic classifier, or the constant if the fit rows hold one class."""
    if y_fit.min() == y_fit.max():
        return np.full(len(x_eval), y_fit[0], dtype=y_fit.dtype)
    return _logistic(x_fit, y_fit, c, seed).predict(x_eval)


def multilabel_probe(features: np.ndarray, labels: np.ndarray, split: Split, cs=LOGISTIC_CS,
                     seed: int = 0) -> ProbeResult:
    """One logistic classifier per label column: features (rows, dims) -> labels (rows, classes) in {0, 1}.

    Each column's C maximises its validation F1; scores are test "macro_f1" (mean over
    classes) and "micro_f1" (over all row × class decisions).
    """
    labels = np.asarray(labels).astype(np.int8)
    x_fit, x_val = _zscore(features[split.fit], features[split.validation])
    x_train, x_test = _zscore(features[split.train], features[split.test])
    pred = np.zeros((len(split.test), labels.shape[1]), np.int8)
    chosen = {}
    for j in range(labels.shape[1]):
        y_fit, y_val = labels[split.fit, j], labels[split.validation, j]
        val_f1 = [f1_score(y_val, _binary_predictions(x_fit, y_fit, x_val, c, seed), zero_division=0) for c in cs]
        c = cs[int(np.argmax(val_f1))]
        chosen[f"C_{j}"] = float(c)
        pred[:, j] = _binary_predictions(x_train, labels[split.train, j], x_test, c, seed)
    truth = labels[split.test]
    return ProbeResult({"macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
                        "micro_f1": float(f1_score(truth, pred, average="micro", zero_division=0))}, chosen)
