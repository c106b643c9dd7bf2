"""Tiles + labels + split → batches: windowed reads, band scaling, augmentation, tf.data batching and prefetch.

Pipeline: the tile index's windows are read with :func:`tlgeo.tiles.iter_tiles` (each scene opened once, bands
selected and scaled, resampled to the input size while reading) into an array held in memory (uint8 for 8-bit
data read unscaled, float32 otherwise; one channel per band) and cached on disk, keyed by files, windows, bands and
size. ``tf.data`` then shuffles, augments (flips, 90° rotations, mild
colour jitter — all valid for overhead imagery, which has no "up"), batches and prefetches. The backbone's ImageNet
preprocessing is the model's first layer, so the pipeline feeds pixels on the 0–255 scale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from tlgeo._utils import atomic_path, cache_dir
from tlgeo.config import BandConfig
from tlgeo.tiles import band_moments, check_sources, iter_tiles


def _tiles_key(tiles: pd.DataFrame, bands: BandConfig, size: int, extra: str = "") -> str:
    h = hashlib.sha256()
    mtimes: dict[str, int] = {}
    for path, window in zip(tiles["path"], tiles["window"], strict=True):
        if path not in mtimes:
            p = Path(path)
            mtimes[path] = p.stat().st_mtime_ns if p.exists() else 0
        h.update(f"{path}|{mtimes[path]}|{tuple(int(v) for v in window)};".encode())
    parts = [bands.bands, bands.scaling, bands.percentiles, bands.value_range, size, extra]
    if not bands.uint8:  # float32 images (before N-band support these were rounded to uint8): other keys
        parts.append(["float32", bands.stats if bands.scaling == "standardize" else None])
    h.update(json.dumps(parts).encode())
    return h.hexdigest()[:32]


def fit_bands(tiles: pd.DataFrame, bands: BandConfig) -> BandConfig:
    """``bands`` completed from the tiles a model is trained on: what a run saves and prediction checks against.

    Checks that every source shares one band count and data type (:func:`tlgeo.tiles.check_sources`), records
    them (``source_bands``, ``dtype``) and, for ``standardize`` without given ``stats``, measures each band's mean
    and sd over the valid pixels of these chips (:func:`tlgeo.tiles.band_moments`).

    Raises:
        BandError / RasterError: Scenes that differ in band count or dtype, or bands out of range.
    """
    count, dtype = check_sources(tiles["path"], bands)
    fitted = replace(bands, source_bands=count, dtype=dtype)
    if bands.scaling == "standardize" and bands.stats is None:
        fitted = replace(fitted, stats=band_moments(list(tiles["path"]), list(tiles["window"]), bands))
    return fitted


def load_images(
    tiles: pd.DataFrame,
    bands: BandConfig,
    size: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Read every tile of ``tiles``, resampled to ``size`` × ``size``, one channel per band read.

    8-bit data read with ``scaling="none"`` stay uint8 (bit for bit); every other scaling gives float32 values on
    the 0–255 scale, not rounded. ``standardize`` without ``stats`` measures them on these tiles first
    (:func:`fit_bands`; training does that explicitly and saves them).

    Args:
        tiles: Tile index rows (``path``, ``window``).
        bands: Band selection and scaling.
        size: Output edge in pixels.
        progress: Called as ``progress(done, total)`` while reading.
        use_cache: Keep a copy under the tlgeo cache (``images/``) so the next run skips the reads.

    Returns:
        uint8 or float32 array (N, size, size, C) aligned with ``tiles``.

    Raises:
        BandError / RasterError: Scenes that differ in band count or data type, bands out of range.
    """
    if bands.scaling == "standardize" and bands.stats is None:
        bands = fit_bands(tiles, bands)
    else:
        check_sources(tiles["path"], bands)
    dtype = np.uint8 if bands.uint8 else np.float32
    key = _tiles_key(tiles, bands, size)
    cached = cache_dir("images") / f"{key}.npy"
    if use_cache and cached.exists():
        try:
            arr = np.load(cached, allow_pickle=False)
            if arr.shape[:3] == (len(tiles), size, size) and arr.dtype == dtype:
                return arr
        except (OSError, ValueError):
            pass  # damaged cache file: read again and replace it
    out: np.ndarray | None = None
    total = len(tiles)
    for i, tile in enumerate(iter_tiles(list(tiles["path"]), list(tiles["window"]), bands, out_size=size)):
        if out is None:
            out = np.empty((total, size, size, tile.image.shape[-1]), dtype=dtype)
        out[i] = as_stored(tile.image, bands)
        if progress and (i % 16 == 0 or i == total - 1):
            progress(i + 1, total)
    if out is None:
        out = np.empty((0, size, size, 3), dtype=dtype)
    if use_cache:
        with atomic_path(cached) as tmp, open(tmp, "wb") as fh:
            np.save(fh, out, allow_pickle=False)
    return out


def as_stored(image: np.ndarray, bands: BandConfig) -> np.ndarray:
    """A tile image as training stores it: uint8 (rounded) for ``scaling="none"``, else float32 unchanged.

    Prediction calls this too, so both see the same values.
    """
    if bands.uint8:
        return image if image.dtype == np.uint8 else np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image.astype(np.float32, copy=False)


@dataclass
class Targets:
    """Integer labels per target (−1 = missing) and the class names; floats for continuous targets.

    Attributes:
        y: Target name → int array (N,), −1 where the tile has no label for that target; for a continuous target
            (empty class list) a float array, ``NaN`` where missing.
        classes: Target name → ordered class names (``[]``: continuous).
    """

    y: dict[str, np.ndarray]
    classes: dict[str, list[str]]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, classes: dict[str, list[str]]) -> Targets:
        """Take the target columns of a labelled tile frame."""
        return cls(
            y={t: frame[t].to_numpy(dtype=np.int64 if c else np.float64) for t, c in classes.items()},
            classes=dict(classes),
        )

    def is_continuous(self, target: str) -> bool:
        """Whether ``target`` is a regression target."""
        return not self.classes[target]

    def standardized(self, stats: dict[str, tuple[float, float]]) -> Targets:
        """Continuous targets as z-scores with ``stats`` (target → (mean, sd)); class targets unchanged."""
        return Targets(
            y={t: (v - stats[t][0]) / stats[t][1] if t in stats else v for t, v in self.y.items()},
            classes=self.classes,
        )

    def regression_stats(self) -> dict[str, tuple[float, float]]:
        """Mean and sd (≥ 1e-12) of each continuous target's labelled values."""
        out = {}
        for t in self.names:
            if self.is_continuous(t):
                v = self.y[t][np.isfinite(self.y[t])]
                mean = float(v.mean()) if v.size else 0.0
                sd = float(v.std()) if v.size > 1 else 1.0
                out[t] = (mean, sd if sd > 1e-12 else 1.0)
        return out

    def strata(self, target: str, bins: int = 5) -> np.ndarray:
        """Class labels, or quantile bins (0…bins−1, −1 = missing) of a continuous target, for stratification."""
        y = self.y[target]
        if not self.is_continuous(target):
            return y
        ok = np.isfinite(y)
        out = np.full(len(y), -1, dtype=np.int64)
        if ok.sum() >= bins:
            edges = np.unique(np.quantile(y[ok], np.linspace(0, 1, bins + 1)[1:-1]))
            out[ok] = np.searchsorted(edges, y[ok], side="right")
        else:
            out[ok] = 0
        return out

    def subset(self, idx: np.ndarray) -> Targets:
        """Targets of the tiles at ``idx``."""
        return Targets(y={t: v[idx] for t, v in self.y.items()}, classes=self.classes)

    @property
    def names(self) -> list[str]:
        """Target names in order."""
        return list(self.classes)

    def sample_weights(self, balance: bool | str) -> dict[str, np.ndarray]:
        """Per-target sample weights: 0 where the label is missing; class weighting by ``balance``.

        ``balance`` is ``"none"`` (or ``False``), ``"balanced"`` (or ``True``: inverse class frequency) or ``"sqrt"``
        (the square root of the inverse frequency). Weights of labelled samples average 1 per target, so losses of
        different targets stay comparable.
        """
        mode = ("balanced" if balance else "none") if isinstance(balance, bool) else balance
        out = {}
        for t, y in self.y.items():
            if self.is_continuous(t):
                w = np.isfinite(y).astype("float32")
                out[t] = w
                continue
            w = (y >= 0).astype("float32")
            if mode in ("balanced", "sqrt") and w.sum() > 0:
                counts = np.bincount(y[y >= 0], minlength=len(self.classes[t])).astype("float64")
                per_class = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
                if mode == "sqrt":
                    per_class = np.sqrt(per_class)
                w = np.where(y >= 0, per_class[np.clip(y, 0, None)], 0.0).astype("float32")
                w *= (y >= 0).sum() / max(w.sum(), 1e-9)
            out[t] = w
        return out

    def safe_labels(self) -> dict[str, np.ndarray]:
        """Labels with −1 (``NaN``) replaced by 0 (their weight is 0, so they never count); floats stay floats."""
        return {
            t: np.where(np.isfinite(y), y, 0.0).astype("float32")
            if self.is_continuous(t)
            else np.where(y >= 0, y, 0).astype("int32")
            for t, y in self.y.items()
        }


def augment_batch(images, seed, *, colour: bool = True):
    """Random flips, 90° rotations and mild brightness/contrast jitter, vectorised over a batch (stateless seeds).

    Overhead imagery has no "up", so all 8 dihedral transforms are valid. Each image draws its own transform from
    the stateless ``seed``, so augmentation is reproducible and costs a few element-wise ops per batch.

    Args:
        images: float32 tensor (B, H, W, C), values 0–255, square tiles.
        seed: int32 tensor of shape (2,) for this batch.
        colour: Also jitter brightness (±8 % of the range) and contrast (±10 %).
    """
    import tensorflow as tf

    b = tf.shape(images)[0]
    u = tf.random.stateless_uniform([b, 5], seed, dtype=tf.float32)

    def pick(mask, a, other):
        return tf.where(tf.reshape(mask, [-1, 1, 1, 1]), a, other)

    x = pick(u[:, 0] < 0.5, tf.reverse(images, axis=[2]), images)  # left-right
    x = pick(u[:, 1] < 0.5, tf.reverse(x, axis=[1]), x)  # up-down
    x = pick(u[:, 2] < 0.5, tf.transpose(x, [0, 2, 1, 3]), x)  # transpose: with the flips, all 8 rotations/flips
    if colour:
        delta = tf.reshape((u[:, 3] * 2.0 - 1.0) * 0.08 * 255.0, [-1, 1, 1, 1])
        factor = tf.reshape(0.9 + 0.2 * u[:, 4], [-1, 1, 1, 1])
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = (x - mean) * factor + mean + delta
    return tf.clip_by_value(x, 0.0, 255.0)


def make_dataset(
    images: np.ndarray,
    targets: Targets | None = None,
    *,
    batch_size: int = 32,
    shuffle: bool = False,
    augment: bool = False,
    balance: bool | str = False,
    seed: int = 0,
    single_output: bool | None = None,
    drop_remainder: bool = False,
):
    """A ``tf.data.Dataset`` of (images, labels, sample weights) batches.

    Args:
        images: uint8 or float32 (N, H, W, C).
        targets: Labels; ``None`` yields images only (prediction).
        batch_size: Batch size.
        shuffle: Reshuffle every epoch (seeded).
        augment: Apply :func:`augment_batch`.
        balance: Class weighting of the sample weights (see :meth:`Targets.sample_weights`).
        seed: Seed for shuffling and augmentation.
        single_output: Emit plain arrays instead of dicts (default: when there is exactly one target).
        drop_remainder: Drop the last partial batch (multi-device training needs batches that split evenly).
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(images)
    if targets is not None:
        labels = targets.safe_labels()
        weights = targets.sample_weights(balance)
        single = len(labels) == 1 if single_output is None else single_output
        if single:
            (name,) = labels
            lab_ds = tf.data.Dataset.from_tensor_slices((labels[name], weights[name]))
        else:
            lab_ds = tf.data.Dataset.from_tensor_slices((labels, weights))
        ds = tf.data.Dataset.zip((ds, lab_ds)).map(lambda x, yw: (x, yw[0], yw[1]))
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def to_float(x, *rest):
        return (tf.cast(x, tf.float32), *rest)

    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip((ds, seeds)).map(
            lambda batch, s: (augment_batch(batch[0], tf.cast(s % (2**31 - 1), tf.int32)), *batch[1:]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)
