"""Linear probes on feature arrays: ridge regression (R²) and logistic classifiers (F1).

Every probe takes row indices for three disjoint sets: `fit` (trains), `validation`
(chooses the regularisation) and `test` (scored once, with the chosen setting refit on
fit + validation). Test rows are never used for fitting or for choosing. Features are
z-scored with the statistics of the rows being fit (braintune.arrays.zscore); the ridge
is braintune.encoding.ridge's solver. `PROBES` names them for the tasks
(braintune.probing.tasks).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, r2_score

from braintune.arrays import zscore
from braintune.encoding.ridge import ridge_predict
from braintune.probing.corpora import Split

RIDGE_ALPHAS = tuple(10.0 ** k for k in range(-2, 7))  # on z-scored features
LOGISTIC_CS = tuple(10.0 ** k for k in range(-4, 2))


@dataclass
class ProbeResult:
    """Test scores (metric -> value) and the hyperparameter(s) chosen on validation."""

    scores: dict[str, float]
    chosen: dict[str, float] = field(default_factory=dict)


def _standardise(features: np.ndarray, fit_rows: np.ndarray, other_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features of `fit_rows` and of `other_rows`, z-scored with the fit rows' statistics. -> float64"""
    fit = features[fit_rows]
    return zscore(fit, dtype=np.float64), zscore(features[other_rows], dtype=np.float64, reference=fit)


def _ridge_predictions(features: np.ndarray, targets: np.ndarray, fit_rows: np.ndarray, eval_rows: np.ndarray,
                       alphas) -> np.ndarray:
    """Ridge with an unpenalised intercept, fit on `fit_rows` for every alpha, predicting `eval_rows`.

    Features z-scored and targets centred with the fit rows' statistics, so the intercept-free
    solver (one eigendecomposition for all alphas and outputs) fits the intercept exactly.
    -> (alphas, eval rows, outputs) float64
    """
    x_fit, x_eval = _standardise(features, fit_rows, eval_rows)
    y_fit = targets[fit_rows].astype(np.float64)
    y_mean = y_fit.mean(axis=0)
    n_out = y_fit.shape[1]
    tiled = np.tile(y_fit - y_mean, len(alphas))  # (rows, alphas * outputs): column a * n_out + j
    prediction = ridge_predict(x_fit, tiled, x_eval, np.repeat(np.asarray(alphas, np.float64), n_out))
    return prediction.reshape(len(eval_rows), len(alphas), n_out).transpose(1, 0, 2) + y_mean


def ridge_probe(features: np.ndarray, targets: np.ndarray, split: Split, alphas=RIDGE_ALPHAS) -> ProbeResult:
    """Ridge regression from features (rows, dims) to targets (rows, outputs).

    alpha maximises the validation R² (averaged uniformly over outputs; ties: the smaller);
    score "r2" is the test R², averaged uniformly over outputs, after refitting on fit +
    validation with that alpha.
    """
    val_r2 = [r2_score(targets[split.validation], p)
              for p in _ridge_predictions(features, targets, split.fit, split.validation, alphas)]
    alpha = alphas[int(np.argmax(val_r2))]
    (prediction,) = _ridge_predictions(features, targets, split.train, split.test, [alpha])
    return ProbeResult({"r2": float(r2_score(targets[split.test], prediction))}, {"alpha": float(alpha)})


def _logistic(x: np.ndarray, y: np.ndarray, c: float, seed: int) -> LogisticRegression:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(C=c, max_iter=500, random_state=seed).fit(x, y)


def classifier_probe(features: np.ndarray, labels: np.ndarray, split: Split, cs=LOGISTIC_CS,
                     seed: int = 0) -> ProbeResult:
    """Multinomial logistic regression from features (rows, dims) to labels (rows,).

    C maximises validation macro-F1; scores are test "macro_f1" and "micro_f1".
    """
    x_fit, x_val = _standardise(features, split.fit, split.validation)
    val_f1 = [f1_score(labels[split.validation], _logistic(x_fit, labels[split.fit], c, seed).predict(x_val),
                       average="macro", zero_division=0) for c in cs]
    c = cs[int(np.argmax(val_f1))]
    x_train, x_test = _standardise(features, split.train, split.test)
    pred = _logistic(x_train, labels[split.train], c, seed).predict(x_test)
    truth = labels[split.test]
    return ProbeResult({"macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
                        "micro_f1": float(f1_score(truth, pred, average="micro", zero_division=0))},
                       {"C": float(c)})


def _binary_f1(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """F1 of each column of (rows, classes) 0/1 arrays; 0 where a column has no positives at all."""
    tp = (truth & pred).sum(axis=0)
    denominator = truth.sum(axis=0) + pred.sum(axis=0)
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def _fit_binary_logistics(x: np.ndarray, y: np.ndarray, c: float, start: np.ndarray | None = None) -> np.ndarray:
    """Independent L2 logistic regressions, one per column of y (rows, classes) in {0, 1}, fit jointly.

    Minimises, per column, C · Σ_rows log(1 + exp(-s·(x·w + b))) + ½‖w‖² (s = ±1; the
    objective of sklearn's LogisticRegression); the sum over columns separates, so one
    L-BFGS run solves all of them. Returns (dims + 1, classes): weights, then intercepts.
    """
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    xb = np.hstack([x, np.ones((len(x), 1))])
    signs = 2.0 * y - 1.0
    shape = (xb.shape[1], y.shape[1])

    def loss_grad(flat):
        w = flat.reshape(shape)
        margin = signs * (xb @ w)
        penalty = w[:-1]
        loss = -c * log_expit(margin).sum() + 0.5 * (penalty ** 2).sum()
        grad = -c * xb.T @ (signs * expit(-margin))
        grad[:-1] += penalty
        return loss, grad.ravel()

    x0 = np.zeros(shape) if start is None else start
    return minimize(loss_grad, x0.ravel(), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x.reshape(shape)


def multilabel_probe(features: np.ndarray, labels: np.ndarray, split: Split, cs=LOGISTIC_CS) -> ProbeResult:
    """One logistic classifier per label column: features (rows, dims) -> labels (rows, classes) in {0, 1}.

    Each column's C maximises its validation F1 (a column with one class in the fit rows
    predicts that class); scores are test "macro_f1" (mean over classes) and "micro_f1"
    (over all row × class decisions). The fits are deterministic (no seed).
    """
    labels = np.asarray(labels).astype(bool)

    def predictions(rows_fit, rows_eval):
        """(len(cs), len(rows_eval), classes) predictions, one slice per C."""
        x_fit, x_eval = _standardise(features, rows_fit, rows_eval)
        y_fit = labels[rows_fit]
        constant = y_fit.min(axis=0) == y_fit.max(axis=0)
        out = np.broadcast_to(y_fit[0], (len(cs), len(rows_eval), labels.shape[1])).copy()
        if (~constant).any():
            w = None
            for k, c in enumerate(cs):  # increasing C: warm start from the more regularised fit
                w = _fit_binary_logistics(x_fit, y_fit[:, ~constant].astype(np.float64), c, w)
                out[k][:, ~constant] = (x_eval @ w[:-1] + w[-1]) > 0
        return out

    val_f1 = np.stack([_binary_f1(labels[split.validation], p) for p in predictions(split.fit, split.validation)])
    best = np.argmax(val_f1, axis=0)  # (classes,) index of the chosen C
    test_pred = predictions(split.train, split.test)
    pred = test_pred[best, :, np.arange(labels.shape[1])].T  # column j predicted with its chosen C
    truth = labels[split.test]
    return ProbeResult({"macro_f1": float(f1_score(truth, pred, average="macro", zero_division=0)),
                        "micro_f1": float(f1_score(truth, pred, average="micro", zero_division=0))},
                       {f"C_{j}": float(cs[b]) for j, b in enumerate(best)})


PROBES = {  # name -> (features, labels, split, seed) -> ProbeResult
    "ridge": lambda features, labels, split, seed: ridge_probe(features, labels, split),
    "classifier": lambda features, labels, split, seed: classifier_probe(features, labels, split, seed=seed),
    "multilabel": lambda features, labels, split, seed: multilabel_probe(features, labels, split),
}
