"""Classification and regression metrics per fold and their mean ± sd across folds (scikit-learn; no Keras).

Regression targets (``values`` task) get R², MAE, RMSE and Spearman's rank correlation (scipy).

For ordered classes (good < fair < poor; indicator levels 0 < 1 < 2) ``within_one`` is the share of predictions at
most one class from the truth — the measure road-quality studies report next to accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

SUMMARY_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "within_one", "r2", "mae", "rmse", "spearman")
#: The summary metrics of a regression target.
REGRESSION_METRICS = ("r2", "mae", "rmse", "spearman")


def regression_metrics(y_true: np.ndarray, pred: np.ndarray) -> dict[str, object]:
    """Metrics of one continuous target on one set of tiles (``NaN`` truth = missing, ignored).

    Args:
        y_true: float values (N,), ``NaN`` = missing.
        pred: Predictions (N,) or (N, 1).

    Returns:
        ``n``, ``r2`` (1 − SSE/SST; ``NaN`` with fewer than 2 tiles or a constant truth), ``mae``, ``rmse``,
        ``spearman`` (``NaN`` when either side is constant), ``bias`` (mean of prediction − truth).
    """
    from scipy.stats import spearmanr

    y = np.asarray(y_true, dtype="float64").ravel()
    p = np.asarray(pred, dtype="float64").reshape(len(y), -1)[:, 0]
    mask = np.isfinite(y)
    y, p = y[mask], p[mask]
    if len(y) == 0:
        return {"n": 0}
    err = p - y
    sst = float(((y - y.mean()) ** 2).sum())
    out: dict[str, object] = {
        "n": len(y),
        "r2": 1.0 - float((err**2).sum()) / sst if len(y) > 1 and sst > 0 else float("nan"),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "bias": float(err.mean()),
    }
    if len(y) > 2 and np.ptp(y) > 0 and np.ptp(p) > 0:
        out["spearman"] = float(spearmanr(y, p).statistic)
    else:
        out["spearman"] = float("nan")
    return out


def classification_metrics(
    y_true: np.ndarray, prob: np.ndarray, classes: Sequence[str], *, ordered: bool = True
) -> dict[str, object]:
    """Metrics of one target on one set of tiles (tiles with label −1 are ignored).

    Args:
        y_true: int labels (N,), −1 = missing.
        prob: Class probabilities (N, C).
        classes: Class names (C).
        ordered: Classes have an order (adds ``within_one`` and ``mean_abs_class_error``).

    Returns:
        ``n``, ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``within_one``, ``mean_abs_class_error``,
        ``per_class`` (precision, recall, f1, support per class name) and ``confusion`` (rows = truth).
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    y_true = np.asarray(y_true)
    mask = y_true >= 0
    y, p = y_true[mask], np.asarray(prob)[mask]
    labels = list(range(len(classes)))
    if len(y) == 0:
        return {"n": 0}
    pred = p.argmax(axis=1)
    prec, rec, f1, support = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    present = support > 0
    out: dict[str, object] = {
        "n": len(y),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if present.sum() > 1 else float("nan"),
        "macro_f1": float(f1[present].mean()) if present.any() else float("nan"),
        "per_class": {
            c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
    }
    if ordered:
        err = np.abs(pred - y)
        out["within_one"] = float((err <= 1).mean())
        out["mean_abs_class_error"] = float(err.mean())
    return out


def combine_targets(per_target: Mapping[str, Mapping[str, object]]) -> dict[str, object]:
    """Per-target metrics plus their mean over targets (``mean``) for the summary metrics."""
    out: dict[str, object] = {"targets": dict(per_target)}
    mean = {}
    for m in SUMMARY_METRICS:
        vals = [float(v[m]) for v in per_target.values() if m in v and np.isfinite(float(v[m]))]
        if vals:
            mean[m] = float(np.mean(vals))
    out["mean"] = mean
    return out


def fold_metrics(exp, probs: Mapping[str, np.ndarray], test_idx: np.ndarray) -> dict[str, object]:
    """Metrics of one fold's test tiles ``test_idx``, per target and their mean (:func:`combine_targets`).

    Args:
        exp: The experiment (its ``targets`` and ``data``).
        probs: Target → class probabilities (values, for a continuous target) of the tiles ``test_idx``.
        test_idx: Indices of the test tiles.

    Returns:
        ``{"targets": {target: metrics}, "mean": {metric: value}}``.
    """
    per_target = {
        t: regression_metrics(exp.targets.y[t][test_idx], probs[t])
        if exp.targets.is_continuous(t)
        else classification_metrics(
            exp.targets.y[t][test_idx], probs[t], exp.targets.classes[t], ordered=exp.data.is_ordered(t)
        )
        for t in exp.targets.names
    }
    return combine_targets(per_target)


def summarize_folds(fold_metrics: Sequence[Mapping[str, object]]) -> dict[str, object]:
    """Mean and sd across folds of each summary metric, per target and for the mean over targets.

    Args:
        fold_metrics: One :func:`combine_targets` result per fold.

    Returns:
        ``{"mean": {metric: {"mean", "sd"}}, "targets": {target: {metric: {"mean", "sd"}}}, "folds": K}``.
    """

    def agg(values: list[float]) -> dict[str, float]:
        arr = np.asarray([v for v in values if np.isfinite(v)], dtype="float64")
        if arr.size == 0:
            return {"mean": float("nan"), "sd": float("nan")}
        return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if arr.size > 1 else 0.0}

    targets = list(fold_metrics[0]["targets"]) if fold_metrics else []
    out: dict[str, object] = {"folds": len(fold_metrics)}
    out["mean"] = {
        m: agg([float(f["mean"][m]) for f in fold_metrics if m in f["mean"]])
        for m in SUMMARY_METRICS
        if any(m in f["mean"] for f in fold_metrics)
    }
    out["targets"] = {
        t: {
            m: agg([float(f["targets"][t][m]) for f in fold_metrics if m in f["targets"][t]])
            for m in SUMMARY_METRICS
            if any(m in f["targets"][t] for f in fold_metrics)
        }
        for t in targets
    }
    return out


def shown_metrics(mean: Mapping[str, object]) -> tuple[str, ...]:
    """The summary metrics a table shows for a result's ``mean``: the classification four and/or the regression four."""
    classification = ("accuracy", "balanced_accuracy", "macro_f1", "within_one")
    regression = REGRESSION_METRICS if any(m in mean for m in REGRESSION_METRICS) else ()
    return (classification if any(m in mean for m in classification) or not regression else ()) + regression


def format_mean_sd(stat: Mapping[str, float] | None) -> str:
    """``0.812 ± 0.031`` (or ``–`` when missing)."""
    if not stat or not np.isfinite(stat.get("mean", float("nan"))):
        return "–"
    return f"{stat['mean']:.3f} ± {stat['sd']:.3f}"
