"""Calibration of class probabilities: reliability, expected calibration error (ECE) and temperature scaling.

A temperature ``T`` is fitted on out-of-fold logits (the log of the out-of-fold probabilities: softmax outputs
determine the logits up to a constant per row, which softmax ignores) by minimising the log loss of
``softmax(logits / T)``; prediction applies it as ``p ∝ p_model^(1/T)``. No Keras.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: Bins of the reliability diagram and the ECE (equal-width confidence bins).
N_BINS = 10
#: Why a continuous (regression) target has no calibration entry but this note (metrics.json ``calibration``).
SKIPPED_REGRESSION = "regression target: calibration (temperature scaling) applies to class probabilities only"
#: Search range of the temperature.
T_RANGE = (0.05, 20.0)


def _valid(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype="float64")
    y = np.asarray(y)
    keep = (y >= 0) & np.isfinite(probs).all(axis=1)
    return probs[keep], y[keep].astype(int)


def reliability(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> pd.DataFrame:
    """Confidence (top probability) against accuracy in equal-width bins.

    Args:
        probs: (N, K) class probabilities.
        y: (N,) true class indices (``-1`` or rows with NaN probabilities are left out).
        n_bins: Number of bins over [0, 1].

    Returns:
        One row per non-empty bin: ``lower``, ``upper``, ``n``, ``confidence`` (mean top probability), ``accuracy``.
    """
    p, t = _valid(probs, y)
    conf = p.max(axis=1) if len(p) else np.zeros(0)
    hit = (p.argmax(axis=1) == t).astype("float64") if len(p) else np.zeros(0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = which == b
        if m.any():
            rows.append(
                {
                    "lower": edges[b],
                    "upper": edges[b + 1],
                    "n": int(m.sum()),
                    "confidence": float(conf[m].mean()),
                    "accuracy": float(hit[m].mean()),
                }
            )
    return pd.DataFrame(rows, columns=["lower", "upper", "n", "confidence", "accuracy"])


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE: the share-weighted mean gap between confidence and accuracy over :func:`reliability` bins."""
    table = reliability(probs, y, n_bins)
    n = table["n"].sum()
    if n == 0:
        return float("nan")
    return float((table["n"] / n * (table["confidence"] - table["accuracy"]).abs()).sum())


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def fit_scale(logits: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (1e-2, 1e3)) -> float:
    """Scale factor ``a`` (= 1 / temperature) minimising the log loss of ``softmax(a · logits)``.

    Bounded scalar minimisation (``scipy.optimize.minimize_scalar(method="bounded")``) on ``log a``.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype="float64")
    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        return 1.0
    rows = np.arange(len(y))

    def nll(log_a: float) -> float:
        return float(-_log_softmax(np.exp(log_a) * logits)[rows, y].mean())

    res = minimize_scalar(nll, bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(res.x))


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """Temperature ``T`` fitted on probabilities (their logs as logits) and true classes (``-1`` left out)."""
    p, t = _valid(probs, y)
    if len(t) == 0:
        return 1.0
    logits = np.log(np.clip(p, 1e-12, 1.0))
    return 1.0 / fit_scale(logits, t, bounds=(1.0 / T_RANGE[1], 1.0 / T_RANGE[0]))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log(probs) / T)`` row by row (``T = 1`` returns the probabilities unchanged)."""
    probs = np.asarray(probs)
    if temperature == 1.0 or probs.size == 0:
        return probs
    z = np.log(np.clip(probs.astype("float64"), 1e-12, 1.0)) / float(temperature)
    return np.exp(_log_softmax(z)).astype(probs.dtype)


def calibrate_targets(probs: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per target: the fitted temperature and the ECE of the probabilities before and after applying it."""
    out = {}
    for target, p in probs.items():
        temp = fit_temperature(p, y[target])
        out[target] = {
            "temperature": round(temp, 6),
            "ece_before": expected_calibration_error(p, y[target]),
            "ece_after": expected_calibration_error(apply_temperature(p, temp), y[target]),
            "n": len(_valid(p, y[target])[1]),
        }
    return out
