"""Streaming windows from disk: reader threads read batches of windows ahead of the model (GDAL releases the GIL),
the model predicts full batches in order; memory does not grow with the scene."""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio

from tlgeo.errors import (
    RasterError,
    TlgeoError,
)
from tlgeo.tiles import RasterInfo, raster_info

if TYPE_CHECKING:
    from tlgeo.config import BandConfig
from tlgeo.predict.predictor import Predictor, ProgressFn

#: GDAL block cache while a scene streams (reader threads keep their datasets open): the cap that keeps memory flat
#: however large the scene; restored afterwards.
READ_CACHE_BYTES = 128 * 1024 * 1024


#: Widest strip (px) read at once when windows need no resampling (a strip is sliced into its windows).
STRIP_PX = 4096


#: Reader threads for tiles and windows.
READ_WORKERS = max(1, min(4, os.cpu_count() or 1))


#: Batches of windows read ahead of the model, per reader thread (bounds memory).
READ_AHEAD = 2


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
