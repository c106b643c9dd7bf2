"""Tiles + labels + split → batches: windowed reads, band scaling, augmentation, tf.data batching and prefetch.

Pipeline: the tile index's windows are read with :func:`tlgeo.tiles.iter_tiles` (each scene opened once, bands
selected and scaled, resampled to the input size while reading) into a uint8 array held in memory (and cached on
disk, keyed by files, windows, bands and size). ``tf.data`` then shuffles, augments (flips, 90° rotations, mild
colour jitter — all valid for overhead imagery, which has no "up"), batches and prefetches. The backbone's ImageNet
preprocessing is the model's first layer, so the pipeline feeds RGB 0–255.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tlgeo._utils import atomic_path, cache_dir
from tlgeo.config import BandConfig
from tlgeo.tiles import iter_tiles


def _tiles_key(tiles: pd.DataFrame, bands: BandConfig, size: int, extra: str = "") -> str:
    h = hashlib.sha256()
    mtimes: dict[str, int] = {}
    for path, window in zip(tiles["path"], tiles["window"], strict=True):
        if path not in mtimes:
            p = Path(path)
            mtimes[path] = p.stat().st_mtime_ns if p.exists() else 0
        h.update(f"{path}|{mtimes[path]}|{tuple(int(v) for v in window)};".encode())
    h.update(json.dumps([bands.bands, bands.scaling, bands.percentiles, bands.value_range, size, extra]).encode())
    return h.hexdigest()[:32]


def load_images(
    tiles: pd.DataFrame,
    bands: BandConfig,
    size: int,
    *,
    progress: Callable[[int, int], None] | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Read every tile of ``tiles`` as RGB uint8, resampled to ``size`` × ``size``.

    Args:
        tiles: Tile index rows (``path``, ``window``).
        bands: Band selection and scaling.
        size: Output edge in pixels.
        progress: Called as ``progress(done, total)`` while reading.
        use_cache: Keep a copy under the tlgeo cache (``images/``) so the next run skips the reads.

    Returns:
        uint8 array (N, size, size, 3) aligned with ``tiles``.
    """
    key = _tiles_key(tiles, bands, size)
    cached = cache_dir("images") / f"{key}.npy"
    if use_cache and cached.exists():
        try:
            arr = np.load(cached, allow_pickle=False)
            if arr.shape == (len(tiles), size, size, 3):
                return arr
        except (OSError, ValueError):
            pass  # damaged cache file: read again and replace it
    out = np.empty((len(tiles), size, size, 3), dtype=np.uint8)
    total = len(tiles)
    for i, tile in enumerate(iter_tiles(list(tiles["path"]), list(tiles["window"]), bands, out_size=size)):
        out[i] = np.clip(np.rint(tile.image), 0, 255).astype(np.uint8)
        if progress and (i % 16 == 0 or i == total - 1):
            progress(i + 1, total)
    if use_cache:
        with atomic_path(cached) as tmp, open(tmp, "wb") as fh:
            np.save(fh, out, allow_pickle=False)
    return out


@dataclass
class Targets:
    """Integer labels per target (−1 = missing) and the class names.

    Attributes:
        y: Target name → int array (N,), −1 where the tile has no label for that target.
        classes: Target name → ordered class names.
    """

    y: dict[str, np.ndarray]
    classes: dict[str, list[str]]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, classes: dict[str, list[str]]) -> Targets:
        """Take the target columns of a labelled tile frame."""
        return cls(y={t: frame[t].to_numpy(dtype=np.int64) for t in classes}, classes=dict(classes))

    def subset(self, idx: np.ndarray) -> Targets:
        """Targets of the tiles at ``idx``."""
        return Targets(y={t: v[idx] for t, v in self.y.items()}, classes=self.classes)

    @property
    def names(self) -> list[str]:
        """Target names in order."""
        return list(self.classes)

    def sample_weights(self, balance: bool) -> dict[str, np.ndarray]:
        """Per-target sample weights: 0 where the label is missing; inverse class frequency if ``balance``.

        Weights of labelled samples average 1 per target, so losses of different targets stay comparable.
        """
        out = {}
        for t, y in self.y.items():
            w = (y >= 0).astype("float32")
            if balance and w.sum() > 0:
                counts = np.bincount(y[y >= 0], minlength=len(self.classes[t])).astype("float64")
                per_class = np.where(counts > 0, counts.sum() / (len(counts) * np.maximum(counts, 1)), 0.0)
                w = np.where(y >= 0, per_class[np.clip(y, 0, None)], 0.0).astype("float32")
                w *= (y >= 0).sum() / max(w.sum(), 1e-9)
            out[t] = w
        return out

    def safe_labels(self) -> dict[str, np.ndarray]:
        """Labels with −1 replaced by 0 (their weight is 0, so they never count)."""
        return {t: np.where(y >= 0, y, 0).astype("int32") for t, y in self.y.items()}


def augment_batch(images, seed, *, colour: bool = True):
    """Random flips, 90° rotations and mild brightness/contrast jitter, vectorised over a batch (stateless seeds).

    Overhead imagery has no "up", so all 8 dihedral transforms are valid. Each image draws its own transform from
    the stateless ``seed``, so augmentation is reproducible and costs a few element-wise ops per batch.

    Args:
        images: float32 tensor (B, H, W, 3), values 0–255, square tiles.
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
    balance: bool = False,
    seed: int = 0,
    single_output: bool | None = None,
    drop_remainder: bool = False,
):
    """A ``tf.data.Dataset`` of (images, labels, sample weights) batches.

    Args:
        images: uint8 (N, H, W, 3).
        targets: Labels; ``None`` yields images only (prediction).
        batch_size: Batch size.
        shuffle: Reshuffle every epoch (seeded).
        augment: Apply :func:`augment_batch`.
        balance: Inverse-frequency class weights in the sample weights.
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


def tile_frame_columns(tiles: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The named columns of a tile frame, reset to a 0..N−1 index (helper for aligning arrays and frames)."""
    return tiles[list(columns)].reset_index(drop=True)
