"""Prediction with a saved run: single tiles, folders of tiles and whole scenes → a GeoDataFrame of class probabilities.

Every tile is preprocessed exactly as in training: bands chosen and scaled by the run's
:class:`~tlgeo.config.BandConfig` (its saved statistics for ``standardize``), resampled (bilinear) to the run's input
size while reading, stored as training stores tiles (:func:`tlgeo.datasets.as_stored`: 8-bit for unscaled 8-bit
data, float32 otherwise) and fed as float32 0–255, one channel per band, to the model, whose first layer applies
the backbone's preprocessing. Imagery whose band count or data type differs from the run's training imagery is
refused with one line naming the file, what the run expects and what the file has.

**Scenes** are cut into sliding windows of the run's tile size and stride (``stride=`` overrides it; a stride smaller
than the tile size overlaps windows). The last row and column of windows end exactly at the scene's edges
(:func:`tlgeo.tiles.window_offsets`), so a scene whose size is not a multiple of the stride is still covered to its
edges. Windows stream from disk: reader threads (:data:`READ_WORKERS`; GDAL and numpy release the GIL, so reads
run in parallel with each other and with the model) read batches of windows a few batches ahead with windowed reads
(each thread opens the file once; GDAL's block cache is capped at :data:`READ_CACHE_BYTES` during the call), while
the model predicts full batches in order; only the predicted probabilities are kept, so memory does not grow with
the scene. Windows with no valid pixel at the model's
input resolution (all nodata) are skipped and not part of the result. A scene smaller than one tile is predicted as
one tile resampled to the input size — training resampled tiles the same way — with a warning.

**Result** (:class:`PredictionResult`): a GeoDataFrame in the CRS of the first input, one row per tile or window —
footprint polygon, ``tile_id`` (``<source>_r<row>_c<col>`` for windows, as in the tile index), ``source``, ``row``,
``col``, ``window`` (``col_off, row_off, width, height`` in source pixels), then for a single target ``label``,
``class_index``, ``prob_<class>`` and for several targets ``<T>_label``, ``<T>_class_index``, ``<T>_prob_<class>``
(probabilities rounded to :data:`PROB_DECIMALS` decimals; ``class_index`` is their argmax), then ``run_id`` and
``backbone``. Export it with :func:`tlgeo.export.write_geojson` (RFC 7946),
:func:`tlgeo.export.write_prediction_geotiff` and :func:`tlgeo.export.predictions_csv_bytes`.

Problems with one file (band count or data type that do not fit the run, no georeference, unreadable, all nodata)
skip that file with a warning naming it; the others are still predicted. Only when nothing at all could be
predicted is an error raised.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from rasterio.crs import CRS

from tlgeo.errors import (
    CompatibilityError,
    ConfigError,
    DataFileError,
    RasterError,
    RunError,
    TlgeoError,
)
from tlgeo.runs import Run, load_run
from tlgeo.tiles import RasterInfo, find_rasters, raster_info, read_tile, scene_windows

if TYPE_CHECKING:
    import keras

    from tlgeo.config import BandConfig

#: A raster more than this many times the run's tile size (width or height) is predicted as a scene.
SCENE_FACTOR = 1.5
#: Probabilities are rounded to this many decimals (float32 precision, readable in GeoJSON and QGIS).
PROB_DECIMALS = 6
#: GDAL block cache while a scene streams (reader threads keep their datasets open): the cap that keeps memory flat
#: however large the scene; restored afterwards.
READ_CACHE_BYTES = 128 * 1024 * 1024
#: Widest strip (px) read at once when windows need no resampling (a strip is sliced into its windows).
STRIP_PX = 4096
#: Reader threads for tiles and windows.
READ_WORKERS = max(1, min(4, os.cpu_count() or 1))
#: Batches of windows read ahead of the model, per reader thread (bounds memory).
READ_AHEAD = 2

ProgressFn = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------- results
@dataclass
class PredictionResult:
    """Predictions of one call.

    Attributes:
        predictions: One row per tile or window (see the module docstring), in the CRS of the first input.
        warnings: Per-file problems, each naming the file and the reason (``"<file>: skipped: …"``).
        run_id: The run that predicted.
        targets: Target → class names, in model order.
        scenes: Inputs predicted as scenes with sliding windows (the ones a GeoTIFF can be written for).
    """

    predictions: gpd.GeoDataFrame
    warnings: list[str]
    run_id: str
    targets: dict[str, list[str]]
    scenes: list[Path] = field(default_factory=list)

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Predicted tiles per class, per target (classes never predicted count 0)."""
        out = {}
        for target, classes in self.targets.items():
            if not classes:
                continue  # a continuous target has no classes to count
            col = label_column(self.targets, target)
            counts = self.predictions[col].value_counts() if len(self.predictions) else pd.Series(dtype=int)
            out[target] = {c: int(counts.get(c, 0)) for c in classes}
        return out


def label_column(targets: Mapping[str, Sequence[str]], target: str, what: str = "label") -> str:
    """Column name of ``what`` (``label``, ``class_index``, ``prob_<class>``, or ``value`` of a continuous target)."""
    return what if len(targets) == 1 else f"{target}_{what}"


# --------------------------------------------------------------------------------------------- predictor
class Predictor:
    """A run with its model loaded once (cache it in the UI; pass it wherever a run is accepted).

    Args:
        run: The saved run.
        model: Its model, if already loaded (default: :meth:`tlgeo.runs.Run.load_model`).

    Raises:
        RunError: The run's settings or model do not fit together (input size, outputs, classes).
    """

    def __init__(self, run: Run, model: keras.Model | None = None):
        self.run = run
        try:
            self.targets: dict[str, list[str]] = run.targets
            tiles = run.tile_config
            self.img_size: int = run.img_size
            self.backbone: str = run.backbone
        except (TlgeoError, KeyError, TypeError, ValueError) as exc:
            raise RunError(
                f"Run {run.path} has unusable settings in config.json ({exc})",
                hint="The run may come from an incompatible tlgeo version; train it again.",
                path=run.path,
            ) from exc
        if not self.targets or any(len(c) == 1 for c in self.targets.values()):  # [] = continuous
            raise RunError(f"Run {run.path} lists no usable targets: {self.targets!r}", path=run.path)
        self.tile_size: int = tiles.size
        self.stride: int = tiles.step
        self.bands: BandConfig = tiles.bands
        self.model = model if model is not None else run.load_model()
        self.temperature: dict[str, float] = run.temperature
        self.channels: int = int(self.model.input_shape[-1]) if len(self.model.input_shape) == 4 else 3
        if self.channels == 3 and self.bands.bands is not None and len(self.bands.bands) == 1:
            # runs saved before N-band input read one chosen band as grey RGB
            self.bands = replace(self.bands, bands=self.bands.bands * 3, names=None)
        self._infer = self._make_infer()
        self._check_model()

    @property
    def run_id(self) -> str:
        """The run's id (folder name)."""
        return self.run.run_id

    def _make_infer(self) -> Callable[[Any], Any]:
        """The model's forward pass (inference mode) as one compiled function, retraced for new batch sizes only.

        Called batch by batch it is a little faster than ``model.predict_on_batch`` (no per-call Keras
        bookkeeping), which matters when reading windows shares the CPU with the model.
        """
        model = self.model
        if getattr(model, "numpy_model", False):  # chip_stats: numpy in, {target: probabilities} out
            return lambda x: model.predict_images(np.asarray(x, dtype="float32"))
        import tensorflow as tf

        listed = isinstance(getattr(model, "_inputs_struct", None), (list, tuple))

        def forward(x):
            return model([x] if listed else x, training=False)

        return tf.function(forward, reduce_retracing=True)

    def _check_model(self) -> None:
        shape = tuple(self.model.input_shape)
        channels = len(self.bands.bands) if self.bands.bands is not None else 3
        if len(shape) != 4 or tuple(shape[1:]) != (self.img_size, self.img_size, channels):
            raise RunError(
                f"Run {self.run.path}: the model takes input {shape[1:]}, but config.json says "
                f"img_size={self.img_size} with {channels} band(s)",
                hint="The run folder is inconsistent; train it again.",
                path=self.run.path,
            )
        try:
            probs = self.predict_images(np.zeros((1, self.img_size, self.img_size, channels), dtype=np.uint8))
        except ConfigError as exc:
            raise RunError(f"Run {self.run.path}: {exc}", hint="Train the run again.", path=self.run.path) from exc
        for target, classes in self.targets.items():
            if probs[target].shape != (1, len(classes) or 1):
                raise RunError(
                    f"Run {self.run.path}: the model predicts {probs[target].shape[-1]} classes for {target!r}, "
                    f"config.json lists {len(classes)} ({', '.join(classes)})",
                    hint="The run folder is inconsistent; train it again.",
                    path=self.run.path,
                )

    def predict_images(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Class probabilities of a batch of preprocessed images.

        Args:
            images: (N, img_size, img_size, C) on the 0–255 scale (uint8 or float), C = the run's bands.

        Returns:
            Target → float32 array (N, classes).
        """
        from tlgeo.transfer import outputs_by_target

        if getattr(self.model, "numpy_model", False):
            out = self._infer(images)
            return {t: np.asarray(p, dtype="float32") for t, p in outputs_by_target(out, self.targets).items()}
        import tensorflow as tf

        out = self._infer(tf.convert_to_tensor(np.asarray(images, dtype="float32")))
        if isinstance(out, Mapping):
            out = {k: v.numpy() for k, v in out.items()}
        elif isinstance(out, (list, tuple)):
            out = [v.numpy() for v in out]
        else:
            out = out.numpy()
        from tlgeo.calibration import apply_temperature

        return {
            t: apply_temperature(np.asarray(p, dtype="float32"), self.temperature.get(t, 1.0))
            if self.targets[t]  # a continuous target's value is never softmaxed
            else np.asarray(p, dtype="float32")
            for t, p in outputs_by_target(out, self.targets).items()
        }

    def check_raster(self, info: RasterInfo) -> None:
        """Raise :class:`~tlgeo.errors.CompatibilityError` when a raster's bands or data type do not fit the run."""
        from tlgeo.tiles import resolve_bands

        bands = self.bands
        expects = f"run {self.run_id} expects"
        if bands.source_bands is not None and info.data_bands != bands.source_bands:
            raise CompatibilityError(
                f"{info.path} has {info.data_bands} band{'s' if info.data_bands != 1 else ''}, {expects} "
                f"{bands.source_bands}-band imagery "
                f"(reading bands {list(bands.bands or (1, 2, 3))})",
                hint="Predict on imagery with the same bands as the training imagery, or train a run on this imagery.",
                path=info.path,
            )
        if bands.dtype is not None and info.dtype != bands.dtype:
            raise CompatibilityError(
                f"{info.path} holds {info.dtype} data, {expects} {bands.dtype} like its training imagery",
                hint=f"Convert the file to {bands.dtype} with the same value scale, or train a run on this imagery.",
                path=info.path,
            )
        if bands.scaling == "none" and info.dtype != "uint8":
            raise CompatibilityError(
                f"{info.path} holds {info.dtype} data, but run {self.run_id} was trained on 8-bit imagery without "
                "scaling (scaling='none')",
                hint="Convert the file to 8-bit RGB as the training imagery was, or train a run with "
                "scaling='percentile' or 'fixed'.",
                path=info.path,
            )
        if bands.bands is None and info.data_bands not in (1, 3):
            raise CompatibilityError(
                f"{info.path} has {info.data_bands} bands, but run {self.run_id} was trained on 3-band RGB imagery "
                "(bands taken as 1-2-3)",
                hint="Pass 3-band RGB (or 1-band) imagery like the training imagery, or train a run with explicit "
                "bands for multi-band imagery (e.g. bands = [3, 2, 1]).",
                path=info.path,
            )
        try:
            resolve_bands(info, bands)
        except TlgeoError as exc:
            raise CompatibilityError(
                f"{exc.message} (run {self.run_id} reads bands {list(bands.bands or ())})",
                hint=exc.hint,
                path=info.path,
            ) from exc


def load_predictor(run: Run | Predictor | str | Path) -> Predictor:
    """Load a run's model once for many predictions.

    Args:
        run: A run folder, a :class:`~tlgeo.runs.Run`, or a :class:`Predictor` (returned as it is).

    Raises:
        RunError: The folder is missing, incomplete, from an incompatible version, or its model does not load.
    """
    if isinstance(run, Predictor):
        return run
    if isinstance(run, (str, Path)):
        run = load_run(run)
    if not isinstance(run, Run):
        raise ConfigError(f"run must be a run folder, a Run or a Predictor, received {type(run).__name__}")
    return Predictor(run)


# --------------------------------------------------------------------------------------------- streaming helpers
@dataclass
class _Read:
    """What one reader job read: kept images (as training stores them) with their positions, and skipped files.

    Attributes:
        index: Positions (windows or files, counted over the whole call) of ``images``.
        images: (k, img, img, C), uint8 or float32 (:func:`tlgeo.datasets.as_stored`).
        seen: Positions before this one have all been read once this job is done.
        infos: Raster info of each kept file (tiles only).
        skipped: ``(warning, error)`` per file that could not be used (tiles only).
    """

    index: np.ndarray
    images: np.ndarray
    seen: int
    infos: list[RasterInfo] = field(default_factory=list)
    skipped: list[tuple[str, TlgeoError]] = field(default_factory=list)


def _ordered(jobs: Iterable[Callable[[], Any]], workers: int = READ_WORKERS, ahead: int = READ_AHEAD) -> Iterator[Any]:
    """Run ``jobs`` on a thread pool, at most ``workers × ahead`` in flight, and yield their results in job order.

    An exception in a job is raised here, in order; closing the iterator cancels the jobs not yet started.
    """
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tlgeo-read")
    pending: deque[Future] = deque()
    it = iter(jobs)
    try:
        for job in itertools.islice(it, max(1, workers * ahead)):
            pending.append(pool.submit(job))
        while pending:
            result = pending.popleft().result()
            job = next(it, None)
            if job is not None:
                pending.append(pool.submit(job))
            yield result
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def _as_stored(image: np.ndarray, bands: BandConfig) -> np.ndarray:
    """The dtype training stores tiles in (``datasets.load_images``): uint8 for unscaled 8-bit data, else float32."""
    from tlgeo.datasets import as_stored

    return as_stored(image, bands)


def _row_chunks(windows: Sequence[tuple[int, int, int, int]], max_px: int) -> list[list[int]]:
    """Group consecutive windows of one row (same row offset and height) into runs spanning at most ``max_px``."""
    chunks: list[list[int]] = []
    for i, (co, ro, w, h) in enumerate(windows):
        if chunks:
            first = windows[chunks[-1][0]]
            if ro == first[1] and h == first[3] and co >= first[0] and co + w - first[0] <= max_px:
                chunks[-1].append(i)
                continue
        chunks.append([i])
    return chunks


@dataclass(frozen=True)
class _Source:
    """A raster prepared for window reads exactly as training reads it (bands resolved, scaling statistics fixed)."""

    info: RasterInfo
    bands: BandConfig
    chosen: tuple[int, ...]
    stats: tuple[tuple[float, float], ...]

    @classmethod
    def prepare(cls, path: str | Path, bands: BandConfig) -> _Source:
        from tlgeo.tiles import band_stats, resolve_bands

        info = raster_info(path)
        chosen = resolve_bands(info, bands)
        return cls(info, bands, chosen, tuple(band_stats(info.path, bands, info)))

    @property
    def plain_uint8(self) -> bool:
        """8-bit data read unscaled: training's scaling is the identity."""
        return self.bands.scaling == "none" and self.info.dtype == "uint8"


class _Readers:
    """Datasets opened once per reader thread and kept for the whole call.

    GDAL datasets must not be shared between threads; reopening per batch would be slow (a fresh dataset reads its
    first blocks several times slower). Memory stays bounded by GDAL's block cache, capped during the call.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    def get(self, path: Path):
        import rasterio

        cache = getattr(self._local, "datasets", None)
        if cache is None:
            cache = self._local.datasets = {}
        ds = cache.get(path)
        if ds is None:
            ds = cache[path] = rasterio.open(path)
            with self._lock:
                self._opened.append(ds)
        return ds

    def close(self) -> None:
        with self._lock:
            for ds in self._opened:
                ds.close()
            self._opened.clear()


def _iter_window_images(
    src: _Source, ds, windows: Sequence[tuple[int, int, int, int]], img_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(image, valid)`` of each window, in order, with exactly the values training reads
    (:func:`tlgeo.tiles.iter_tiles`, which calls the same ``read_window_from``).

    Windows already of the input size need no resampling: they are read a run of windows at a time (one read of a
    strip up to :data:`STRIP_PX` wide, then sliced), which gives the same values with far fewer reads — plain reads,
    elementwise scaling and masks do not depend on how a region is cut; 8-bit data read unscaled skip the float
    round trip (training's scaling is then the identity). Windows that must be resampled are read one by one, as in
    training (bilinear resampling near a window's edge depends on the window).
    """
    from rasterio.errors import RasterioIOError
    from rasterio.windows import Window

    from tlgeo.tiles import read_window_from

    try:
        if all(w == img_size and h == img_size for _, _, w, h in windows):
            for members in _row_chunks(windows, max(STRIP_PX, img_size)):
                co, ro, _, h = windows[members[0]]
                span = Window(co, ro, max(windows[i][0] + windows[i][2] for i in members) - co, h)
                if src.plain_uint8:
                    image, valid = _plain_uint8_read(ds, src, span)
                else:
                    tile = read_window_from(ds, src.info, src.chosen, src.stats, span, None)
                    image, valid = tile.image, tile.valid
                for i in members:
                    x = windows[i][0] - co
                    yield image[:, x : x + img_size], valid[:, x : x + img_size]
        else:
            for w in windows:
                tile = read_window_from(ds, src.info, src.chosen, src.stats, Window(*w), img_size)
                yield tile.image, tile.valid
    except RasterioIOError as exc:
        raise RasterError(
            f"Reading {src.info.path} failed ({exc})",
            hint="The file may be truncated; export it again.",
            path=src.info.path,
        ) from exc


def _plain_uint8_read(ds, src: _Source, win) -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit region read unscaled: the bands as read, pixels whose mask is 0 set to 0 (as training does)."""
    unique = sorted(set(src.chosen))
    data = ds.read(unique, window=win)
    valid = np.all(ds.read_masks(unique, window=win) > 0, axis=0)
    image = np.moveaxis(data[[unique.index(b) for b in src.chosen]], 0, -1)
    image[~valid] = 0
    return image, valid


def _window_images(
    path: str | Path, windows: Sequence[tuple[int, int, int, int]], bands: BandConfig, img_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`_iter_window_images` on a file opened for this call (single-threaded; for checks and tests)."""
    import rasterio

    src = _Source.prepare(path, bands)
    with rasterio.open(src.info.path) as ds:
        yield from _iter_window_images(src, ds, windows, img_size)


def _read_windows(
    readers: _Readers,
    src: _Source,
    windows: Sequence[tuple[int, int, int, int]],
    start: int,
    img_size: int,
    skip_empty: bool,
) -> _Read:
    """Reader job: windows ``start …`` of a scene (windows with no valid pixel left out if ``skip_empty``)."""
    index, images = [], []
    ds = readers.get(src.info.path)
    for i, (image, valid) in enumerate(_iter_window_images(src, ds, windows, img_size)):
        if skip_empty and not valid.any():
            continue
        index.append(start + i)
        images.append(_as_stored(image, src.bands))
    return _Read(
        np.asarray(index, dtype="int64"), _stack(images, img_size, len(src.chosen), src.bands), start + len(windows)
    )


def _stack(images: list[np.ndarray], img_size: int, channels: int, bands: BandConfig) -> np.ndarray:
    if images:
        return np.stack(images)
    return np.empty((0, img_size, img_size, channels), np.uint8 if bands.uint8 else np.float32)


def _predict_stream(
    predictor: Predictor,
    reads: Iterator[_Read],
    batch_size: int,
    total: int,
    progress: ProgressFn | None,
    on_read: Callable[[_Read], None] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Predict what the reader jobs deliver, in full batches of ``batch_size`` (the last one may be smaller).

    Returns:
        The positions predicted (in order) and the probabilities per target, aligned with them.
    """
    parts: dict[str, list[np.ndarray]] = {t: [] for t in predictor.targets}
    done_index: list[np.ndarray] = []
    buf_images: list[np.ndarray] = []
    buf_index: list[np.ndarray] = []
    buffered, reported = 0, -1

    def predict(n: int) -> None:
        nonlocal buf_images, buf_index, buffered
        images, index = np.concatenate(buf_images), np.concatenate(buf_index)
        for t, p in predictor.predict_images(images[:n]).items():
            parts[t].append(p)
        done_index.append(index[:n])
        buf_images, buf_index, buffered = [images[n:]], [index[n:]], buffered - n

    for read in reads:
        if on_read is not None:
            on_read(read)
        if len(read.index):
            buf_images.append(read.images)
            buf_index.append(read.index)
            buffered += len(read.index)
        while buffered >= batch_size:
            predict(batch_size)
        if progress and read.seen - buffered != reported:
            reported = read.seen - buffered  # everything before, except the images still buffered, is done
            progress(reported, total)
    if buffered:
        predict(buffered)
    if progress and reported != total:
        progress(total, total)
    index = np.concatenate(done_index) if done_index else np.empty(0, dtype="int64")
    probs = {
        t: np.concatenate(v) if v else np.empty((0, len(predictor.targets[t])), "float32") for t, v in parts.items()
    }
    return index, probs


def _source_names(paths: Sequence[Path]) -> list[str]:
    """``source`` of each file: its stem, or ``<folder>_<stem>`` where stems repeat (as in the tile index)."""
    stems = [p.stem for p in paths]
    dup = {s for s, n in Counter(stems).items() if n > 1}
    return [f"{p.parent.name}_{p.stem}" if p.stem in dup else p.stem for p in paths]


def _footprints(transform, windows: np.ndarray) -> np.ndarray:
    """Footprint polygons of ``(col_off, row_off, width, height)`` windows under an affine transform."""
    if len(windows) == 0:
        return np.empty(0, dtype=object)
    co, ro, w, h = (windows[:, k].astype("float64") for k in range(4))
    cols = np.stack([co, co + w, co + w, co, co], axis=1)
    rows = np.stack([ro, ro, ro + h, ro + h, ro], axis=1)
    a, b, c, d, e, f = transform.a, transform.b, transform.c, transform.d, transform.e, transform.f
    xs, ys = a * cols + b * rows + c, d * cols + e * rows + f
    return shapely.polygons(np.stack([xs, ys], axis=-1))


def _frame(
    predictor: Predictor,
    *,
    tile_ids: Sequence[str],
    sources: Sequence[str],
    rows: Sequence[int],
    cols: Sequence[int],
    windows: np.ndarray,
    geometry: np.ndarray,
    probs: Mapping[str, np.ndarray],
    crs: CRS,
) -> gpd.GeoDataFrame:
    """Assemble the predictions frame (columns as in the module docstring)."""
    data: dict[str, Any] = {
        "tile_id": list(tile_ids),
        "source": list(sources),
        "row": np.asarray(rows, dtype="int64"),
        "col": np.asarray(cols, dtype="int64"),
        "window": [tuple(int(v) for v in w) for w in windows],
    }
    targets = predictor.targets
    for target, classes in targets.items():
        if not classes:  # a continuous target: its value, in the units of the labels
            data[label_column(targets, target, "value")] = probs[target].astype("float64").reshape(-1)
            continue
        p = np.round(probs[target].astype("float64"), PROB_DECIMALS)
        idx = p.argmax(axis=1) if len(p) else np.empty(0, dtype="int64")
        data[label_column(targets, target)] = np.asarray(classes, dtype=object)[idx] if len(p) else []
        data[label_column(targets, target, "class_index")] = idx.astype("int64")
        for k, c in enumerate(classes):
            data[label_column(targets, target, f"prob_{c}")] = p[:, k] if len(p) else np.empty(0)
    data["run_id"] = predictor.run_id
    data["backbone"] = predictor.backbone
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=crs), crs=crs)


def _empty_probs(predictor: Predictor) -> dict[str, np.ndarray]:
    return {t: np.empty((0, len(c) or 1), dtype="float32") for t, c in predictor.targets.items()}


def _concat(frames: list[gpd.GeoDataFrame], predictor: Predictor) -> gpd.GeoDataFrame:
    frames = [f for f in frames if f is not None]
    if not frames:
        empty = np.empty((0, 4), dtype="int64")
        return _frame(
            predictor,
            tile_ids=[],
            sources=[],
            rows=[],
            cols=[],
            windows=empty,
            geometry=np.empty(0, dtype=object),
            probs=_empty_probs(predictor),
            crs=CRS.from_epsg(4326),
        )
    crs = frames[0].crs
    frames = [f if f.crs == crs else f.to_crs(crs) for f in frames]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)


def _skip(path: Path | str, exc: BaseException) -> str:
    return f"{path}: skipped: {exc}"


def _nothing_predicted(predictor: Predictor, errors: list[TlgeoError], what: str) -> TlgeoError:
    """One error for 'no file could be predicted', of the common class of the per-file errors."""
    kinds = {type(e) for e in errors}
    cls = kinds.pop() if len(kinds) == 1 else CompatibilityError
    reasons = "; ".join(str(e) for e in errors[:3]) + (f"; and {len(errors) - 3} more" if len(errors) > 3 else "")
    return cls(
        f"Nothing could be predicted with run {predictor.run_id}: {what} ({reasons})",
        hint="Fix the files named above, or pass imagery like the run's training imagery.",
    )


def _check_batch(batch_size: int, stride: int | None = None) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, received batch_size={batch_size!r}")
    if stride is not None and (not isinstance(stride, int) or stride < 1):
        raise ConfigError(f"stride must be a positive number of pixels, received stride={stride!r}")


# --------------------------------------------------------------------------------------------- tiles
def _bounds_for(bounds, paths: Sequence[Path]) -> list[Sequence[float] | None]:
    if bounds is None:
        return [None] * len(paths)
    if isinstance(bounds, Mapping):
        lookup = {str(Path(k)): v for k, v in bounds.items()}
        return [lookup.get(str(p), lookup.get(p.name)) for p in paths]
    if len(paths) != 1:
        raise ConfigError(
            f"bounds=(left, bottom, right, top) applies to one file, received {len(paths)} files",
            hint="Pass a mapping {path: bounds} for several images without world files.",
        )
    return [bounds]


def _tile_info(path: Path, bounds: Sequence[float] | None, crs) -> RasterInfo:
    from tlgeo.errors import GeoreferenceError

    try:
        return raster_info(path, bounds=bounds, crs=crs if bounds is not None else None)
    except GeoreferenceError:
        if crs is None or bounds is not None:
            raise
        return raster_info(path, crs=crs)  # a world file without .prj: the CRS given applies


def predict_tiles(
    run: Run | Predictor | str | Path,
    paths: Sequence[str | Path],
    *,
    bounds: Sequence[float] | Mapping[str | Path, Sequence[float]] | None = None,
    crs: CRS | str | int | None = None,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> PredictionResult:
    """Predict files that are one tile each (GeoTIFF in any CRS, or PNG/JPEG with a world file or bounds).

    Each file is read whole, with the run's bands and scaling, resampled to the run's input size. ``tile_id`` and
    ``source`` are the file's stem (``<folder>_<stem>`` where stems repeat).

    Args:
        run: Run folder, :class:`~tlgeo.runs.Run` or :class:`Predictor`.
        paths: Tile files.
        bounds: ``(left, bottom, right, top)`` of an image without a world file (one file), or ``{path: bounds}``.
        crs: CRS of ``bounds``, or of world files without a ``.prj``.
        batch_size: Tiles per model call.
        progress: Called as ``progress(done, total)`` after each batch.

    Returns:
        Predictions in the CRS of the first tile predicted; files that could not be used are listed in ``warnings``.

    Raises:
        RunError: The run cannot be used.
        CompatibilityError / RasterError / DataFileError: No file at all could be predicted (the reasons are named).
    """
    _check_batch(batch_size)
    predictor = load_predictor(run)
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataFileError("No tile files given", hint="Pass at least one GeoTIFF, PNG or JPEG.")
    frame, warnings, errors = _predict_tile_files(
        predictor, paths, _source_names(paths), _bounds_for(bounds, paths), crs, batch_size, progress
    )
    if frame is None:
        raise _nothing_predicted(predictor, errors, f"none of {len(paths)} tile file(s) could be used")
    return PredictionResult(frame, warnings, predictor.run_id, predictor.targets)


def _read_one_tile(
    predictor: Predictor, path: Path, bounds: Sequence[float] | None, crs: CRS | str | int | None
) -> tuple[RasterInfo, np.ndarray]:
    """Reader job part: one file read whole as one tile (stored as in training, the run's input size)."""
    from rasterio.errors import RasterioError

    try:
        info = _tile_info(path, bounds, crs)
        predictor.check_raster(info)
        tile = read_tile(path, bands=predictor.bands, out_size=predictor.img_size, info=info)
    except TlgeoError:
        raise
    except (RasterioError, OSError) as exc:
        raise RasterError(f"{path} cannot be read ({exc})", path=path) from exc
    if not tile.valid.any():
        raise RasterError(f"{path} has no valid pixel (all nodata)", path=path)
    return info, _as_stored(tile.image, predictor.bands)


def _predict_tile_files(
    predictor: Predictor,
    paths: list[Path],
    sources: list[str],
    bounds: list[Sequence[float] | None],
    crs: CRS | str | int | None,
    batch_size: int,
    progress: ProgressFn | None,
) -> tuple[gpd.GeoDataFrame | None, list[str], list[TlgeoError]]:
    """Predict one tile per file; returns the frame (``None`` if nothing was predicted), warnings and errors."""
    warnings: list[str] = []
    errors: list[TlgeoError] = []
    infos: dict[int, RasterInfo] = {}
    total, size = len(paths), predictor.img_size

    def job(start: int, stop: int) -> _Read:
        index, images, kept, skipped = [], [], [], []
        for i in range(start, stop):
            try:
                info, image = _read_one_tile(predictor, paths[i], bounds[i], crs)
            except TlgeoError as exc:
                skipped.append((_skip(paths[i], exc), exc))
                continue
            index.append(i)
            images.append(image)
            kept.append(info)
        stacked = _stack(images, size, predictor.channels, predictor.bands)
        return _Read(np.asarray(index, dtype="int64"), stacked, stop, kept, skipped)

    def on_read(read: _Read) -> None:
        for warning, error in read.skipped:
            warnings.append(warning)
            errors.append(error)
        infos.update(zip(read.index.tolist(), read.infos, strict=True))

    jobs = (functools.partial(job, a, min(a + batch_size, total)) for a in range(0, total, batch_size))
    reads = _ordered(jobs)
    try:
        index, probs = _predict_stream(predictor, reads, batch_size, total, progress, on_read)
    finally:
        reads.close()
    if not len(index):
        return None, warnings, errors
    meta = [(int(i), infos[int(i)]) for i in index]
    groups: dict[str, list[int]] = {}
    for k, (_, info) in enumerate(meta):
        groups.setdefault(info.crs.to_wkt(), []).append(k)
    frames = []
    for keys in groups.values():
        group = [meta[k][1] for k in keys]
        windows = np.array([[0, 0, info.width, info.height] for info in group], dtype="int64")
        geoms = np.concatenate([_footprints(info.transform, windows[j : j + 1]) for j, info in enumerate(group)])
        names = [sources[meta[k][0]] for k in keys]
        frame = _frame(
            predictor,
            tile_ids=names,
            sources=names,
            rows=[0] * len(keys),
            cols=[0] * len(keys),
            windows=windows,
            geometry=geoms,
            probs={t: p[keys] for t, p in probs.items()},
            crs=group[0].crs,
        )
        frames.append(frame.assign(_order=keys))
    frame = _concat(frames, predictor).sort_values("_order").drop(columns="_order").reset_index(drop=True)
    return frame, warnings, errors


# --------------------------------------------------------------------------------------------- scenes
def scene_grid(
    info: RasterInfo, tile_size: int, stride: int | None = None
) -> list[tuple[int, int, int, int, int, int]]:
    """The sliding windows of a scene, ``(row, col, col_off, row_off, width, height)``, reaching its edges.

    A scene smaller than one tile (in width or height) is one window: the whole file.
    """
    if info.width < tile_size or info.height < tile_size:
        return [(0, 0, 0, 0, info.width, info.height)]
    return scene_windows(info, tile_size, stride)


def predict_scene(
    run: Run | Predictor | str | Path,
    path: str | Path,
    *,
    stride: int | None = None,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
    skip_empty: bool = True,
    source: str | None = None,
) -> PredictionResult:
    """Predict a whole scene with sliding windows, streamed from disk in batches.

    Args:
        run: Run folder, :class:`~tlgeo.runs.Run` or :class:`Predictor`.
        path: The scene (GeoTIFF, or PNG/JPEG with a world file).
        stride: Window step in pixels (default: the run's; smaller than the tile size overlaps windows).
        batch_size: Windows per model call.
        progress: Called as ``progress(done, total)`` with windows read so far (skipped ones included).
        skip_empty: Leave out windows with no valid pixel (all nodata).
        source: Name for ``source``/``tile_id`` (default: the file's stem).

    Returns:
        One row per window predicted, in the scene's CRS. A scene smaller than one tile gives one row and a warning.

    Raises:
        RunError: The run cannot be used.
        CompatibilityError: The scene's bands or data type do not fit the run.
        RasterError / GeoreferenceError / DataFileError: The file cannot be read or has no georeference.
    """
    _check_batch(batch_size, stride)
    predictor = load_predictor(run)
    path = Path(path)
    info = raster_info(path)
    predictor.check_raster(info)
    source = source or path.stem
    warnings: list[str] = []
    size, step = predictor.tile_size, stride or predictor.stride
    grid = scene_grid(info, size, step)
    if len(grid) == 1 and (info.width < size or info.height < size):
        warnings.append(
            f"{path}: {info.width} × {info.height} px is smaller than the run's tile size ({size} px); predicted as "
            f"one tile resampled to {predictor.img_size} px"
        )
    windows = np.array([g[2:] for g in grid], dtype="int64").reshape(-1, 4)
    total = len(grid)
    wins = [tuple(w) for w in windows.tolist()]
    src = _Source.prepare(path, predictor.bands)
    readers = _Readers()
    jobs = (
        functools.partial(_read_windows, readers, src, wins[a : a + batch_size], a, predictor.img_size, skip_empty)
        for a in range(0, total, batch_size)
    )
    reads = _ordered(jobs)
    try:
        with rasterio.Env(GDAL_CACHEMAX=READ_CACHE_BYTES):
            idx, probs = _predict_stream(predictor, reads, batch_size, total, progress)
    finally:
        reads.close()  # stops the reader threads before their datasets close
        readers.close()
    skipped = total - len(idx)
    if not len(idx):
        raise RasterError(
            f"{path} has no valid pixel in any of its {total} window(s) (all nodata)",
            hint="Check the file's nodata value and mask.",
            path=path,
        )
    if skipped:
        warnings.append(f"{path}: {skipped} of {total} window(s) skipped: all nodata")
    single = len(grid) == 1
    predictions = _frame(
        predictor,
        tile_ids=[source if single else f"{source}_r{grid[i][0]:03d}_c{grid[i][1]:03d}" for i in idx],
        sources=[source] * len(idx),
        rows=[grid[i][0] for i in idx],
        cols=[grid[i][1] for i in idx],
        windows=windows[idx],
        geometry=_footprints(info.transform, windows[idx]),
        probs=probs,
        crs=info.crs,
    )
    return PredictionResult(predictions, warnings, predictor.run_id, predictor.targets, [Path(path)])


# --------------------------------------------------------------------------------------------- mixed inputs
@dataclass
class InputPlan:
    """What :func:`predict_inputs` will do with each file.

    Attributes:
        tiles: Files predicted as one tile each.
        scenes: Files cut into sliding windows.
        windows: Window count per scene.
        warnings: Files that cannot be used, with the reason.
        errors: The errors behind ``warnings``.
    """

    tiles: list[Path]
    scenes: list[Path]
    windows: dict[Path, int]
    warnings: list[str]
    errors: list[TlgeoError] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Tiles plus windows."""
        return len(self.tiles) + sum(self.windows.values())


def expand_inputs(inputs: Iterable[str | Path]) -> tuple[list[Path], list[str], list[TlgeoError]]:
    """Files and folders → raster files (folders searched recursively for GeoTIFF/PNG/JPEG), duplicates removed.

    Returns:
        The files, and a warning (with its error) for each folder holding no raster.
    """
    files: list[Path] = []
    warnings: list[str] = []
    errors: list[TlgeoError] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            try:
                files.extend(find_rasters(p))
            except TlgeoError as exc:
                warnings.append(_skip(p, exc))
                errors.append(exc)
        else:
            files.append(p)  # missing files and unknown suffixes too: raster_info names the problem
    seen: set[Path] = set()
    out = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out, warnings, errors


def plan_inputs(predictor: Predictor, inputs: Iterable[str | Path], stride: int | None = None) -> InputPlan:
    """Sort inputs into tiles and scenes: a raster wider or taller than 1.5 × the run's tile size is a scene.

    Files that cannot be opened (missing, not a raster, no georeference) are listed in the plan's warnings.
    """
    files, warnings, errors = expand_inputs(inputs)
    plan = InputPlan(tiles=[], scenes=[], windows={}, warnings=warnings, errors=errors)
    size = predictor.tile_size
    for path in files:
        try:
            info = raster_info(path)
        except TlgeoError as exc:
            plan.warnings.append(_skip(path, exc))
            plan.errors.append(exc)
            continue
        if max(info.width, info.height) > SCENE_FACTOR * size:
            plan.scenes.append(path)
            plan.windows[path] = len(scene_grid(info, size, stride or predictor.stride))
        else:
            plan.tiles.append(path)
            if min(info.width, info.height) < size:
                plan.warnings.append(
                    f"{path}: {info.width} × {info.height} px is smaller than the run's tile ({size} px); it is "
                    "stretched to fit, so its prediction is unreliable"
                )
    return plan


def predict_inputs(
    run: Run | Predictor | str | Path,
    inputs: Iterable[str | Path],
    *,
    stride: int | None = None,
    batch_size: int = 32,
    progress: ProgressFn | None = None,
) -> PredictionResult:
    """Predict files and folders: small rasters as tiles, larger ones (> 1.5 × tile size) as scenes.

    Args:
        run: Run folder, :class:`~tlgeo.runs.Run` or :class:`Predictor`.
        inputs: Files and folders (searched recursively).
        stride: Window step for scenes (default: the run's).
        batch_size: Images per model call.
        progress: Called as ``progress(done, total)`` over all tiles and windows.

    Returns:
        All predictions in the CRS of the first file predicted; unusable files are listed in ``warnings``.

    Raises:
        RunError: The run cannot be used.
        CompatibilityError / RasterError / DataFileError: Nothing at all could be predicted (reasons named).
    """
    _check_batch(batch_size, stride)
    predictor = load_predictor(run)
    plan = plan_inputs(predictor, inputs, stride)
    from tlgeo.limits import check_windows

    check_windows(plan.total, "the inputs")  # bounded work whoever calls (CLI, dashboard)
    warnings, errors = list(plan.warnings), list(plan.errors)
    total, offset = plan.total, 0
    frames: list[gpd.GeoDataFrame] = []
    names = dict(zip(plan.tiles + plan.scenes, _source_names(plan.tiles + plan.scenes), strict=True))

    def shifted(base: int) -> ProgressFn | None:
        if progress is None:
            return None
        return lambda done, _total: progress(base + done, total)

    if plan.tiles:
        frame, tile_warnings, tile_errors = _predict_tile_files(
            predictor,
            plan.tiles,
            [names[p] for p in plan.tiles],
            [None] * len(plan.tiles),
            None,
            batch_size,
            shifted(offset),
        )
        warnings.extend(tile_warnings)
        errors.extend(tile_errors)
        if frame is not None:
            frames.append(frame)
        offset += len(plan.tiles)
    for scene in plan.scenes:
        try:
            res = predict_scene(
                predictor, scene, stride=stride, batch_size=batch_size, progress=shifted(offset), source=names[scene]
            )
            frames.append(res.predictions)
            warnings.extend(res.warnings)
        except TlgeoError as exc:
            warnings.append(_skip(scene, exc))
            errors.append(exc)
        offset += plan.windows[scene]
        if progress:
            progress(offset, total)
    if not frames:
        if not errors:
            raise DataFileError("No raster files given", hint="Pass tiles, folders of tiles or scenes.")
        raise _nothing_predicted(predictor, errors, "no input could be used")
    merged = _concat(frames, predictor)
    done = set(merged["source"])
    scenes = [Path(s) for s in plan.scenes if names[s] in done]
    return PredictionResult(merged, warnings, predictor.run_id, predictor.targets, scenes)


# --------------------------------------------------------------------------------------------- roads
def predictions_along_roads(
    predictions: gpd.GeoDataFrame | PredictionResult,
    roads: gpd.GeoDataFrame,
    *,
    target: str | None = None,
) -> gpd.GeoDataFrame:
    """Cut road lines by tile footprints; each piece carries the prediction of its tile.

    Where windows overlap (a stride below the tile size, or the last window of a row or column shifted to end at the
    scene edge), each point of a road goes to the window whose centre is nearest among those containing it, so pieces
    never overlap and their lengths add up to the road length covered by predictions. Roads outside every footprint
    are left out.

    Args:
        predictions: Predictions frame (or :class:`PredictionResult`) with footprint polygons.
        roads: Road LineStrings in any CRS (e.g. labelled segments, a truth file, OSM roads); their columns are kept.
        target: For multi-task predictions, keep only this target's columns, renamed to ``label``,
            ``class_index`` and ``prob_<class>``; default: every prediction column.

    Returns:
        One row per (road, tile) piece in the predictions' CRS: the road's columns, ``tile_id``, the prediction
        columns, ``run_id``, ``backbone`` and ``length_m``.

    Raises:
        GeoreferenceError: A frame has no CRS.
        ConfigError: ``target`` is not one of the predicted targets, or ``roads`` holds no lines.
    """
    from tlgeo.errors import GeoreferenceError

    frame = getattr(predictions, "predictions", predictions)
    if frame.crs is None or roads.crs is None:
        raise GeoreferenceError(
            "predictions_along_roads needs both frames to have a CRS",
            hint="Set the CRS (gdf.set_crs) of the roads or predictions.",
        )
    pred_cols, strip = _prediction_property_columns(frame, target)
    lines = roads[roads.geometry.notna() & ~roads.geometry.is_empty].to_crs(frame.crs)
    lines = lines[lines.geom_type.isin(["LineString", "MultiLineString"])]
    if lines.empty and len(roads):
        raise ConfigError("roads holds no LineString geometries", hint="Pass road centrelines (LineStrings).")
    cores = _cores(frame)
    tiles = gpd.GeoDataFrame(frame[pred_cols], geometry=cores, crs=frame.crs)
    tiles = tiles[~tiles.geometry.is_empty]
    road_data = pd.DataFrame(lines.drop(columns=lines.geometry.name))
    road_data = road_data.rename(columns={c: f"road_{c}" for c in road_data.columns if c in pred_cols})
    road_cols = list(road_data.columns)
    left = gpd.GeoDataFrame(road_data, geometry=lines.geometry.values, crs=frame.crs)
    if left.empty or tiles.empty:
        out = gpd.GeoDataFrame(columns=[*road_cols, *pred_cols, "length_m", "geometry"], geometry="geometry")
        return out.set_crs(frame.crs)
    li, ti = tiles.sindex.query(left.geometry.values, predicate="intersects")
    pieces = shapely.intersection(left.geometry.values[li], tiles.geometry.values[ti])
    pieces = shapely.line_merge(_lines_only(pieces))
    keep = ~shapely.is_empty(pieces) & (shapely.length(pieces) > 0)
    li, ti, pieces = li[keep], ti[keep], pieces[keep]
    order = np.lexsort((ti, li))
    li, ti, pieces = li[order], ti[order], pieces[order]
    data = pd.concat(
        [
            left.drop(columns=left.geometry.name).iloc[li].reset_index(drop=True),
            pd.DataFrame(tiles.drop(columns=tiles.geometry.name).iloc[ti]).reset_index(drop=True),
        ],
        axis=1,
    )
    if strip:
        data = data.rename(columns=lambda c: c[len(strip) :] if c.startswith(strip) else c)
    out = gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(pieces, crs=frame.crs), crs=frame.crs)
    metric = out.crs if out.crs.is_projected else out.estimate_utm_crs()
    out["length_m"] = out.geometry.to_crs(metric).length.to_numpy() if out.crs != metric else out.geometry.length
    return out


def _prediction_property_columns(frame: pd.DataFrame, target: str | None) -> tuple[list[str], str | None]:
    """Columns copied onto road pieces, and the prefix to strip (multi-task ``target``)."""
    base = [c for c in ("tile_id", "source") if c in frame.columns]
    tail = [c for c in ("run_id", "backbone") if c in frame.columns]
    multi = sorted(c[: -len("_class_index")] for c in frame.columns if c.endswith("_class_index"))
    if "class_index" in frame.columns and not multi:
        preds = [c for c in frame.columns if c in ("label", "class_index") or c.startswith("prob_")]
        return [*base, *preds, *tail], None  # one target: any target name refers to it
    if not multi:
        raise ConfigError(
            "The predictions have no class_index column", hint="Pass the frame returned by tlgeo.predict."
        )
    chosen = multi if target is None else [target]
    if target is not None and target not in multi:
        raise ConfigError(f"target {target!r} is not in the predictions", hint=f"Use one of: {', '.join(multi)}.")
    preds = [
        c
        for c in frame.columns
        if any(c in (f"{t}_label", f"{t}_class_index") or c.startswith(f"{t}_prob_") for t in chosen)
    ]
    return [*base, *preds, *tail], (f"{target}_" if target is not None else None)


def _lines_only(geoms: np.ndarray) -> np.ndarray:
    """Keep the line parts of intersection results (points where a road only touches a tile are dropped)."""
    out = geoms.copy()
    for k, g in enumerate(geoms):
        kind = shapely.get_type_id(g)
        if kind in (1, 5):  # LineString, MultiLineString
            continue
        if kind == 7:  # GeometryCollection
            parts = [p for p in shapely.get_parts(g) if shapely.get_type_id(p) in (1, 5)]
            out[k] = shapely.union_all(parts) if parts else shapely.LineString()
        else:
            out[k] = shapely.LineString()
    return out


def _cores(frame: gpd.GeoDataFrame) -> np.ndarray:
    """Footprints reduced so that they do not overlap: each keeps the part nearest to its own centre.

    Non-overlapping footprints are returned as they are. Otherwise each footprint is cut to its Voronoi cell
    (of footprint centres); for the regular grids of sliding windows that is exactly "nearest centre wins".
    """
    geoms = frame.geometry.values
    n = len(geoms)
    if n < 2:
        return np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="overlaps")
    if not np.any(a != b):
        return np.asarray(geoms, dtype=object)
    centres = shapely.centroid(geoms)
    xy = shapely.get_coordinates(centres)
    _, first = np.unique(np.round(xy, 9), axis=0, return_index=True)
    first = np.sort(first)
    points = shapely.multipoints(centres[first])
    extent = shapely.box(*shapely.total_bounds(geoms)).buffer(1.0)
    cell_of = np.empty(n, dtype=object)
    cell_of[:] = shapely.Polygon()
    try:
        cell_of[first] = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=extent, ordered=True))
    except TypeError:  # shapely < 2.1 has no ordered=: match cells to their centres
        cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=extent))
        pi, ci = shapely.STRtree(cells).query(centres[first], predicate="within")
        cell_of[first[pi]] = cells[ci]
    return shapely.intersection(np.asarray(geoms, dtype=object), cell_of)


# --------------------------------------------------------------------------------------------- CLI
def _cli_progress(stream=None) -> ProgressFn:
    stream = stream if stream is not None else sys.stderr  # looked up now: the CLI may have swapped it
    state = {"last": -1}

    def report(done: int, total: int) -> None:
        pct = int(100 * done / max(total, 1))
        if stream.isatty():
            print(f"\rpredicting: {done}/{total} ({pct}%)", end="" if done < total else "\n", file=stream, flush=True)
        elif pct // 25 != state["last"] // 25 or done == total:
            if pct != state["last"]:
                print(f"predicting: {done}/{total} ({pct}%)", file=stream, flush=True)
        state["last"] = pct

    return report


def run_predict_cli(args: argparse.Namespace, predict: Callable[..., PredictionResult] | None = None) -> int:
    """``tlgeo predict``: predict tiles, folders and scenes; write GeoJSON (+ GeoTIFF, CSV); print a summary.

    ``predict`` replaces :func:`predict_inputs` (same signature), e.g. the cluster one of ``--cluster``.
    """
    from tlgeo._utils import atomic_path
    from tlgeo.export import predictions_csv_bytes, write_geojson, write_prediction_geotiff
    from tlgeo.inputs import check_rasters_convertible
    from tlgeo.limits import check_windows
    from tlgeo.outputs import check_outputs

    roads_file, roads_out = getattr(args, "roads", None), getattr(args, "roads_out", None)
    if (roads_file is None) != (roads_out is None):
        raise ConfigError("--roads and --roads-out go together", hint="Give the road lines and where to write them.")
    check_outputs(
        {"--out": args.out, "--geotiff": args.geotiff, "--csv": args.csv, "--roads-out": roads_out},
        overwrite=args.overwrite,
    )
    _check_batch(args.batch_size, args.stride)
    check_rasters_convertible(args.inputs)
    roads = None
    if roads_file is not None:
        from tlgeo.labels.roads import read_road_network

        roads = read_road_network(roads_file)  # fail on a bad road file before predicting
    predictor = load_predictor(args.run)
    plan = plan_inputs(predictor, args.inputs, args.stride)
    check_windows(plan.total, "the inputs")
    if args.geotiff is not None:
        if len(plan.scenes) != 1:
            raise ConfigError(
                f"--geotiff needs exactly one scene among the inputs, received {len(plan.scenes)} scene(s)"
                + (f" ({', '.join(p.name for p in plan.scenes[:4])})" if plan.scenes else ""),
                hint=f"A scene is a raster larger than {SCENE_FACTOR} × the run's tile size "
                f"({predictor.tile_size} px); predict one scene per command to get its GeoTIFF.",
            )
    result = (predict or predict_inputs)(
        predictor, args.inputs, stride=args.stride, batch_size=args.batch_size, progress=_cli_progress()
    )
    preds = result.predictions
    print(f"run {result.run_id} ({predictor.backbone}): {len(preds)} tile(s) predicted")
    for target, counts in result.class_counts().items():
        name = "" if len(result.targets) == 1 else f"{target}: "
        print(f"  {name}" + ", ".join(f"{c} {n}" for c, n in counts.items()))
    for target in (t for t, c in result.targets.items() if not c and len(preds)):
        v = preds[label_column(result.targets, target, "value")]
        print(f"  {target}: predicted from {v.min():.4g} to {v.max():.4g} (mean {v.mean():.4g})")
    for w in result.warnings:
        print(f"warning: {w}")
    written = [write_geojson(preds, args.out, overwrite=args.overwrite)]
    if args.geotiff is not None:
        written.append(write_prediction_geotiff(result, plan.scenes[0], args.geotiff, overwrite=args.overwrite))
    if args.csv is not None:
        with atomic_path(args.csv, overwrite=args.overwrite) as tmp:
            tmp.write_bytes(predictions_csv_bytes(preds))
        written.append(Path(args.csv))
    if roads is not None:
        pieces = predictions_along_roads(result, roads)
        print(f"  {len(pieces)} road piece(s), {pieces.to_crs(pieces.estimate_utm_crs()).length.sum() / 1000:.2f} km")
        written.append(write_geojson(pieces, roads_out, overwrite=args.overwrite))
    for p in written:
        print(f"wrote {p}")
    return 0
