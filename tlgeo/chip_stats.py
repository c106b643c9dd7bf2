"""Strategy ``chip_stats``: the honest non-deep baseline — gradient boosting on per-band chip statistics.

Every chip (the same preprocessed images the networks see: bands chosen and scaled onto 0–255, at the run's input
size) becomes one row of numbers: per band the mean, sd and the 10/25/50/75/90th percentiles of its *valid* pixels
(pixels that are 0 in every band are nodata, as :mod:`tlgeo.tiles` fills them), the valid share, and where band
roles are known (``[tiles.bands] names``) the mean and sd of NDVI (nir, red) and NDWI (green, nir). A scikit-learn
``HistGradientBoostingClassifier`` per target learns from them (labels −1 masked per target, so a village task fits
one model per indicator); a continuous target (task ``values``, continuous village fractions: an empty class list)
gets a ``HistGradientBoostingRegressor`` on its labelled rows (``NaN`` masked) and predicts one value per chip, in
the target's own units. Models are saved with ``skops`` and loaded only when every type in the file is one tlgeo
trusts: a run folder never executes code.

No Keras here: the baseline trains and predicts without TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from tlgeo.errors import RunError, TrainingError

#: Percentiles of each band's valid pixels used as features.
PERCENTILES = (10, 25, 50, 75, 90)
#: Version of the saved payload.
FORMAT = 1
#: Types a chip_stats model file may hold beyond skops' defaults (the fitted trees of gradient boosting).
TRUSTED_TYPES = (
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
)


def feature_names(channels: int, band_names: Sequence[str] | None = None) -> list[str]:
    """Names of the columns :func:`chip_features` returns, in order."""
    names = list(band_names) if band_names and len(band_names) == channels else [f"b{i + 1}" for i in range(channels)]
    cols = []
    for n in names:
        cols += [f"{n}_mean", f"{n}_sd", *(f"{n}_p{p}" for p in PERCENTILES)]
    cols.append("valid_share")
    for index in _indices(band_names if band_names and len(band_names) == channels else None):
        cols += [f"{index[0]}_mean", f"{index[0]}_sd"]
    return cols


def _indices(band_names: Sequence[str] | None) -> list[tuple[str, int, int]]:
    """(name, a, b) for each normalised difference (a − b) / (a + b) the band roles allow."""
    if not band_names:
        return []
    lowered = [n.strip().lower() for n in band_names]
    roles = {r: lowered.index(r) for r in ("red", "green", "nir") if r in lowered}
    out = []
    if "nir" in roles and "red" in roles:
        out.append(("ndvi", roles["nir"], roles["red"]))
    if "green" in roles and "nir" in roles:
        out.append(("ndwi", roles["green"], roles["nir"]))
    return out


def chip_features(images: np.ndarray, band_names: Sequence[str] | None = None, *, batch: int = 256) -> np.ndarray:
    """Per-chip statistics of the valid pixels (see the module notes for the columns).

    Args:
        images: (N, H, W, C) on the 0–255 scale (uint8 or float); pixels that are 0 in every band are nodata.
        band_names: One name per channel (roles red/green/nir add NDVI/NDWI), or ``None``.
        batch: Chips processed at once (bounds memory).

    Returns:
        float32 (N, F), F = ``len(feature_names(C, band_names))``; a chip without valid pixels gets zeros.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise TrainingError(f"chip_stats needs (N, H, W, C) images, received shape {images.shape}")
    n, h, w, c = images.shape
    names = band_names if band_names and len(band_names) == c else None
    idx = _indices(names)
    out = np.zeros((n, len(feature_names(c, names))), dtype="float32")
    for start in range(0, n, batch):
        x = images[start : start + batch].reshape(-1, h * w, c).astype("float32")
        valid = (x != 0).any(axis=2)  # (b, P)
        share = valid.mean(axis=1)
        xm = np.where(valid[..., None], x, np.nan)
        with np.errstate(all="ignore"), _quiet_nan():
            mean = np.nanmean(xm, axis=1)
            sd = np.nanstd(xm, axis=1)
            pct = np.nanpercentile(xm, PERCENTILES, axis=1)  # (len(P), b, C)
            cols = []
            for band in range(c):
                cols += [mean[:, band], sd[:, band], *(pct[k, :, band] for k in range(len(PERCENTILES)))]
            cols.append(share)
            for _, a, b in idx:
                nd = (xm[..., a] - xm[..., b]) / (xm[..., a] + xm[..., b] + 1e-6)
                cols += [np.nanmean(nd, axis=1), np.nanstd(nd, axis=1)]
        out[start : start + batch] = np.nan_to_num(np.stack(cols, axis=1), nan=0.0)
    return out


class _quiet_nan:
    """Silence numpy's 'mean of empty slice' warnings for chips without valid pixels."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _one_thread():
    """OpenMP limited to one thread: on a few hundred rows, more threads spin far longer than they work (~15×)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def make_estimator(kind: str = "classes", seed: int = 0):
    """The scikit-learn model for one target: gradient boosting, small-data settings.

    ``kind`` is ``"classes"`` (a classifier) or ``"values"`` (a regressor, for continuous targets).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    common = dict(
        learning_rate=0.08,
        max_iter=100,
        max_leaf_nodes=15,
        min_samples_leaf=8,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    return HistGradientBoostingRegressor(**common) if kind == "values" else HistGradientBoostingClassifier(**common)


class ChipStatsModel:
    """Image (0–255, run input size) → ``{target: class probabilities or (N, 1) values}`` through chip statistics.

    It offers what a :class:`~tlgeo.predict.Predictor` needs from a model: ``input_shape`` and
    :meth:`predict_images`.

    Args:
        targets: Target → class names (``[]``: a continuous target, fitted with a regressor).
        img_size: Input edge in pixels.
        channels: Input channels.
        band_names: One name per channel, or ``None``.
        estimators: Target → fitted estimator (filled by :meth:`fit`).
    """

    #: Predictors call :meth:`predict_images` with numpy arrays instead of a TensorFlow graph.
    numpy_model = True

    def __init__(
        self,
        targets: Mapping[str, Sequence[str]],
        img_size: int,
        channels: int,
        band_names: Sequence[str] | None = None,
        estimators: Mapping[str, object] | None = None,
    ):
        self.targets = {t: list(c) for t, c in targets.items()}
        self.img_size, self.channels = int(img_size), int(channels)
        self.band_names = list(band_names) if band_names else None
        self.estimators = dict(estimators or {})
        self.name = "chip_stats"

    @property
    def input_shape(self) -> tuple:
        """(None, img_size, img_size, channels), like a Keras model's."""
        return (None, self.img_size, self.img_size, self.channels)

    def is_continuous(self, target: str) -> bool:
        """Whether ``target`` is a regression target (an empty class list)."""
        return not self.targets[target]

    def fit(
        self, features: np.ndarray, y: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray], seed: int = 0
    ) -> ChipStatsModel:
        """Fit one estimator per target on the rows labelled for it (class ≥ 0, or a finite value).

        Raises:
            TrainingError: A class target's training rows hold fewer than 2 classes, or a continuous target's fewer
                than 2 labelled rows.
        """
        for t, labels in y.items():
            w = np.asarray(weights[t])
            if self.is_continuous(t):
                kind, mask = "values", np.isfinite(labels)
                n, what = int(mask.sum()), "value(s)"
                needs = "a regressor"
            else:
                kind, mask = "classes", labels >= 0
                n, what = np.unique(labels[mask]).size, "class(es)"
                needs = "a classifier"
            if n < 2:
                raise TrainingError(
                    f"chip_stats: the training tiles of target {t!r} hold {n} {what} in this fold; {needs} needs "
                    "at least 2",
                    hint="Use fewer --folds or a larger --block-size.",
                )
            est = make_estimator(kind, seed)
            with _one_thread():
                est.fit(features[mask], labels[mask], sample_weight=w[mask])
            self.estimators[t] = est
        return self

    def predict_features(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """Target → (N, classes) float64 probabilities (classes absent from training get 0); for a continuous
        target (N, 1) predicted values."""
        out = {}
        for t, classes in self.targets.items():
            est = self.estimators[t]
            if self.is_continuous(t):
                values = np.zeros((len(features), 1), dtype="float64")
                if len(features):
                    with _one_thread():
                        values[:, 0] = est.predict(features)
                out[t] = values
                continue
            probs = np.zeros((len(features), len(classes)), dtype="float64")
            if len(features):
                with _one_thread():
                    probs[:, np.asarray(est.classes_, dtype=int)] = est.predict_proba(features)
            out[t] = probs
        return out

    def predict_images(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Target → (N, classes) probabilities of preprocessed images (N, img_size, img_size, channels)."""
        return self.predict_features(chip_features(images, self.band_names))

    def __call__(self, images, training: bool = False) -> dict[str, np.ndarray]:
        return self.predict_images(np.asarray(images))

    def save(self, path: str | Path) -> None:
        """Write the model with ``skops`` (no pickle)."""
        import skops.io as sio

        payload = {
            "format": FORMAT,
            "targets": self.targets,
            "img_size": self.img_size,
            "channels": self.channels,
            "band_names": self.band_names or [],
            "estimators": self.estimators,
        }
        sio.dump(payload, Path(path))


def load_model(path: str | Path) -> ChipStatsModel:
    """Load a model written by :meth:`ChipStatsModel.save`, refusing any type tlgeo does not trust.

    Raises:
        RunError: The file is missing, damaged, or holds a type outside skops' defaults and :data:`TRUSTED_TYPES`.
    """
    import skops.io as sio

    path = Path(path)
    hint = "The run folder was changed or damaged; train the run again."
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a damaged zip or schema raises many types
        raise RunError(f"Cannot read the chip_stats model {path} ({_short(exc)})", hint=hint, path=path) from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise RunError(
            f"The chip_stats model {path} holds untrusted type(s) {', '.join(refused)}; refused to load it",
            hint=hint,
            path=path,
        )
    try:
        payload = sio.load(path, trusted=list(untrusted))
        model = ChipStatsModel(
            payload["targets"],
            payload["img_size"],
            payload["channels"],
            payload["band_names"] or None,
            payload["estimators"],
        )
    except Exception as exc:
        raise RunError(f"Cannot load the chip_stats model {path} ({_short(exc)})", hint=hint, path=path) from None
    if set(model.estimators) != set(model.targets):
        raise RunError(f"The chip_stats model {path} lacks estimators for some targets", hint=hint, path=path)
    return model


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: " + " ".join(str(exc).split())[:160]
