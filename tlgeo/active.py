"""Active learning: which unlabelled samples (tiles, road stretches) would teach a run the most.

Each candidate gets two numbers:

- **uncertainty** ``u`` in [0, 1] from the run's calibrated class probabilities (the saved model already applies the
  fitted temperature of a linear SVM head, so its softmax outputs are the calibrated probabilities): normalised
  entropy ``H(p) / log K`` (``"entropy"``) or ``1 − (p₁ − p₂)`` (``"margin"``, top-two classes); averaged over the
  targets of a multi-task run;
- **representativeness** ``d`` in [0, 1]: distance in the run's embedding space (standardised pooled backbone
  features) to the nearest labelled sample or earlier pick, divided by the largest such distance among the
  candidates before the first pick — the k-center greedy criterion.

Picks are made greedily (ranked batch-mode sampling, Cardoso et al. 2017): at each step the candidate with the highest
``score = w · u + (1 − w) · d`` is taken, then every ``d`` is updated with the new pick, so a batch does not pile up
on near-duplicates. ``w = 1`` is uncertainty alone, ``w = 0`` pure k-center greedy. Optionally picks keep a minimum
distance in space (metres) from each other. The settings are a :class:`ActiveSettings` dataclass, written into the
properties of every exported pick. This module is numpy only (no Keras, no geometry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from tlgeo.errors import ConfigError

UNCERTAINTY_KINDS = ("entropy", "margin")


@dataclass(frozen=True)
class ActiveSettings:
    """How candidates are scored and picked.

    Attributes:
        uncertainty: ``"entropy"`` (normalised entropy of the calibrated probabilities) or ``"margin"``
            (1 − difference of the two most likely classes).
        weight: ``w`` in ``score = w · uncertainty + (1 − w) · representativeness``; 1 = uncertainty alone,
            0 = diversity alone (k-center greedy on the embeddings).
        min_distance_m: Picks closer than this (centre to centre, or stretch to stretch) to an earlier pick are
            skipped; 0 = no spatial constraint.
        seed: Breaks exact ties (and drives the random baseline); a fixed seed gives the same plan.
    """

    uncertainty: str = "entropy"
    weight: float = 0.5
    min_distance_m: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.uncertainty not in UNCERTAINTY_KINDS:
            raise ConfigError(
                f"uncertainty must be one of {', '.join(UNCERTAINTY_KINDS)}, received {self.uncertainty!r}"
            )
        if not (np.isfinite(self.weight) and 0.0 <= self.weight <= 1.0):
            raise ConfigError(f"weight must be between 0 and 1, received weight={self.weight!r}")
        if not (np.isfinite(self.min_distance_m) and self.min_distance_m >= 0):
            raise ConfigError(
                f"min_distance_m must be a finite distance ≥ 0, received min_distance_m={self.min_distance_m!r}"
            )

    def properties(self) -> dict[str, object]:
        """The settings as export properties (``al_`` prefix), so every output says how it was chosen."""
        return {f"al_{k}": v for k, v in asdict(self).items()}


def uncertainty(probs: Mapping[str, np.ndarray] | np.ndarray, kind: str = "entropy") -> np.ndarray:
    """Uncertainty in [0, 1] of each row of class probabilities (mean over targets for several targets).

    Args:
        probs: (N, K) probabilities, or target → (N, K_t).
        kind: ``"entropy"`` or ``"margin"``.

    Returns:
        float64 (N,).
    """
    if kind not in UNCERTAINTY_KINDS:
        raise ConfigError(f"uncertainty must be one of {', '.join(UNCERTAINTY_KINDS)}, received {kind!r}")
    parts = list(probs.values()) if isinstance(probs, Mapping) else [probs]
    out = []
    for p in parts:
        p = np.clip(np.asarray(p, dtype="float64"), 0.0, 1.0)
        p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
        k = p.shape[1]
        if kind == "entropy":
            h = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
            out.append(h / np.log(k))
        else:
            top = np.sort(p, axis=1)[:, ::-1]
            out.append(1.0 - (top[:, 0] - top[:, 1]))
    return np.clip(np.mean(out, axis=0), 0.0, 1.0)


def standardize(embeddings: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Embeddings scaled per feature to zero mean and unit variance (statistics of ``reference``, default all)."""
    x = np.asarray(embeddings, dtype="float64")
    ref = x if reference is None else np.asarray(reference, dtype="float64")
    mean, sd = ref.mean(axis=0), ref.std(axis=0)
    return (x - mean) / np.where(sd > 1e-12, sd, 1.0)


def _min_dist(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Euclidean distance of each row of ``x`` to its nearest row of ``ref`` (inf if ``ref`` is empty)."""
    if len(ref) == 0:
        return np.full(len(x), np.inf)
    out = np.full(len(x), np.inf)
    for a in range(0, len(ref), 2048):
        r = ref[a : a + 2048]
        d2 = (x * x).sum(1)[:, None] - 2 * x @ r.T + (r * r).sum(1)[None, :]
        out = np.minimum(out, np.sqrt(np.maximum(d2, 0)).min(axis=1))
    return out


def select(
    unc: np.ndarray,
    embeddings: np.ndarray,
    labelled_embeddings: np.ndarray,
    n: int | None = None,
    *,
    settings: ActiveSettings = ActiveSettings(),
    costs: np.ndarray | None = None,
    budget: float | None = None,
    distance_m: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy picks by ``w · uncertainty + (1 − w) · representativeness`` (see the module docstring).

    Give either ``n`` (number of picks) or ``costs`` and ``budget`` (e.g. stretch lengths in km: a candidate is taken
    only while it fits the budget left; the loop stops when nothing fits).

    Args:
        unc: (N,) uncertainty of the candidates in [0, 1].
        embeddings: (N, D) candidate embeddings (already standardised, e.g. :func:`standardize`).
        labelled_embeddings: (M, D) embeddings of the labelled samples in the same space (may be empty).
        n: Number of picks.
        settings: Weighting, minimum distance and seed.
        costs: (N,) cost of each candidate (with ``budget``).
        budget: Total cost allowed.
        distance_m: (N, N) distances in metres between candidates, for ``settings.min_distance_m``.

    Returns:
        ``(picks, scores)``: candidate indices in pick order, and the score each had when picked.
    """
    unc = np.asarray(unc, dtype="float64")
    x = np.asarray(embeddings, dtype="float64")
    m = len(unc)
    if x.shape[0] != m:
        raise ConfigError(f"{m} uncertainties but {x.shape[0]} embeddings; pass one embedding per candidate")
    if (n is None) == (budget is None):
        raise ConfigError("select needs either n or costs with budget")
    if budget is not None and (costs is None or len(costs) != m):
        raise ConfigError("select: costs must give one cost per candidate with budget")
    w = settings.weight
    d = _min_dist(x, np.asarray(labelled_embeddings, dtype="float64").reshape(-1, x.shape[1]))
    finite = d[np.isfinite(d)]
    if len(finite) == 0:  # nothing labelled yet: start from the most central candidate's distances
        d = _min_dist(x, x.mean(axis=0, keepdims=True))
        finite = d
    scale = float(finite.max()) if len(finite) and finite.max() > 0 else 1.0
    tie = np.random.default_rng(settings.seed).random(m) * 1e-9
    alive = np.ones(m, dtype=bool)
    left = float(budget) if budget is not None else 0.0
    picks: list[int] = []
    scores: list[float] = []
    limit = n if n is not None else m
    while len(picks) < limit:
        if budget is not None:
            alive &= np.asarray(costs, dtype="float64") <= left + 1e-9
        if not alive.any():
            break
        score = w * unc + (1 - w) * np.minimum(d / scale, 1.0) + tie
        score = np.where(alive, score, -np.inf)
        k = int(np.argmax(score))
        picks.append(k)
        scores.append(float(score[k] - tie[k]))
        alive[k] = False
        if budget is not None:
            left -= float(costs[k])
        d = np.minimum(d, _min_dist(x, x[k : k + 1]))
        if distance_m is not None and settings.min_distance_m > 0:
            alive &= np.asarray(distance_m[k]) >= settings.min_distance_m
    return np.asarray(picks, dtype="int64"), np.asarray(scores, dtype="float64")


def pairwise_m(xy: np.ndarray) -> np.ndarray:
    """(N, N) Euclidean distances between points in a metric CRS."""
    xy = np.asarray(xy, dtype="float64")
    return np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
