"""Bands and scaling: which bands a run reads, per-band statistics (percentile, standardize), scaling, composites."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from tlgeo.config import BandConfig
from tlgeo.errors import BandError, ConfigError, DataFileError, RasterError
from tlgeo.tiles.rasters import RasterInfo, raster_info

_STATS_MAX_PIXELS = 1024


def resolve_bands(info: RasterInfo, bands: BandConfig) -> tuple[int, ...]:
    """The 1-based bands read, one per input channel.

    ``bands.bands=None`` takes 1-2-3 of a 3-band raster and repeats the band of a 1-band raster three times (grey as
    RGB); explicit ``bands`` are taken as they are (any count).

    Raises:
        BandError: A band number is out of range, or the raster has a band count that needs an explicit choice.
    """
    n = info.data_bands
    if bands.bands is None:
        if n == 3:
            return (1, 2, 3)
        if n == 1:
            return (1, 1, 1)
        raise BandError(
            f"{info.path} has {n} bands; tlgeo will not guess which to use",
            hint=f"Choose them in tlgeo.toml [tiles.bands], e.g. bands = [{', '.join(str(i + 1) for i in range(n))}] "
            "(all of them) or bands = [3, 2, 1].",
            path=info.path,
        )
    chosen = tuple(bands.bands)
    bad = [b for b in chosen if b > info.count]
    if bad:
        raise BandError(
            f"Band {bad[0]} requested but {info.path} has only {info.count} band(s)",
            hint=f"Use band numbers from 1 to {info.count} in [tiles.bands] bands.",
            path=info.path,
        )
    return chosen


def _check_scaling(info: RasterInfo, bands: BandConfig) -> None:
    if bands.scaling == "none" and info.dtype != "uint8":
        raise RasterError(
            f"{info.path} holds {info.dtype} data, which cannot be used without scaling",
            hint="Set scaling = 'percentile' (per-band 2–98 % stretch), 'standardize' (mean/sd of the training "
            "chips) or 'fixed' with value_range.",
            path=info.path,
        )


@functools.lru_cache(maxsize=256)
def _percentile_stats(
    path: str, mtime_ns: int, bands: tuple[int, ...], percentiles: tuple[float, float]
) -> tuple[tuple[float, float], ...]:
    unique = sorted(set(bands))
    with rasterio.open(path) as ds:
        scale = max(ds.width, ds.height) / _STATS_MAX_PIXELS
        shape = (max(1, int(ds.height / max(scale, 1))), max(1, int(ds.width / max(scale, 1))))
        data = ds.read(unique, out_shape=(len(unique), *shape), resampling=Resampling.nearest, masked=True)
    per_band = {}
    for b, band in zip(unique, data, strict=True):
        values = band.compressed().astype("float64")
        values = values[np.isfinite(values)]
        if values.size == 0:
            per_band[b] = (0.0, 1.0)
            continue
        lo, hi = np.percentile(values, percentiles)
        per_band[b] = (float(lo), float(hi) if hi > lo else float(lo) + 1.0)
    return tuple(per_band[b] for b in bands)


def band_stats(path: str | Path, bands: BandConfig, info: RasterInfo | None = None) -> tuple[tuple[float, float], ...]:
    """Per-channel (low, high) values that map to 0 and 255 under ``bands.scaling``.

    Percentile stats are computed once per source file (on a decimated read of valid pixels), so every window of a
    scene is scaled the same way. ``standardize`` maps mean ± 3 sd (``bands.stats``) to 0 and 255.

    Raises:
        ConfigError: ``standardize`` without ``stats`` (fit them with :func:`tlgeo.datasets.fit_bands`), or
            per-band settings whose count differs from the bands read.
    """
    info = info or raster_info(path)
    chosen = resolve_bands(info, bands)
    c = len(chosen)
    if bands.scaling == "fixed":
        return bands.ranges(c)
    if bands.scaling == "none":
        return ((0.0, 255.0),) * c
    if bands.scaling == "standardize":
        if bands.stats is None:
            raise ConfigError(
                "scaling='standardize' needs the mean and sd of each band, measured on the training chips",
                hint="Train a run (it measures and saves them), or give stats = [[mean, sd], …] in [tiles.bands].",
            )
        return bands.standardize_ranges(c)
    p = Path(path)
    return _percentile_stats(str(p.resolve()), p.stat().st_mtime_ns, chosen, tuple(bands.percentiles))


def scale_bands(data: np.ndarray, stats: Sequence[tuple[float, float]]) -> np.ndarray:
    """Map (C, H, W) band values linearly from each band's (low, high) onto 0–255, clipped; returns (H, W, C) float32."""
    out = np.empty((data.shape[1], data.shape[2], len(stats)), dtype="float32")
    for i, (lo, hi) in enumerate(stats):
        band = data[i].astype("float32")
        out[..., i] = np.clip((band - lo) * (255.0 / (hi - lo)), 0.0, 255.0)
    if np.issubdtype(data.dtype, np.floating):
        out = np.nan_to_num(out, nan=0.0, posinf=255.0, neginf=0.0)
    return out


def check_sources(paths: Iterable[str | Path], bands: BandConfig) -> tuple[int, str]:
    """Check that the rasters of one task fit ``bands`` and agree in band count and data type.

    Args:
        paths: Source files (repeats are fine).
        bands: Band selection and scaling.

    Returns:
        ``(band count, dtype)`` shared by every file (alpha bands not counted).

    Raises:
        BandError: Files differ in band count (naming both), or a band is out of range.
        RasterError: Files differ in data type, or 8-bit-only scaling on other data.
    """
    first: RasterInfo | None = None
    for path in dict.fromkeys(str(p) for p in paths):
        info = raster_info(path)
        resolve_bands(info, bands)
        _check_scaling(info, bands)
        if first is None:
            first = info
            continue
        if info.data_bands != first.data_bands:
            raise BandError(
                f"{info.path} has {info.data_bands} band(s) but {first.path} has {first.data_bands}; the scenes of "
                "one task must have the same bands",
                hint="Put only scenes with the same band layout in imagery/ (or split them into separate tasks).",
                path=info.path,
            )
        if info.dtype != first.dtype:
            raise RasterError(
                f"{info.path} holds {info.dtype} data but {first.path} holds {first.dtype}; the scenes of one task "
                "must share one data type",
                hint="Convert the scenes to one data type, or split them into separate tasks.",
                path=info.path,
            )
    if first is None:
        raise DataFileError("No raster files given", hint="Pass at least one GeoTIFF.")
    return first.data_bands, first.dtype


def band_moments(
    paths: Sequence[str | Path], windows: Sequence[Sequence[int]], bands: BandConfig
) -> tuple[tuple[float, float], ...]:
    """Per-channel (mean, sd) of the valid pixels of the given windows, read unscaled at native resolution.

    What ``standardize`` scaling measures on the training chips. A band without valid pixels (or constant) gets
    sd 1.

    Args:
        paths: Source file of each window.
        windows: ``(col_off, row_off, width, height)`` of each window.
        bands: Band selection.
    """
    sums = count = squares = None
    chosen: tuple[int, ...] = ()
    by_path: dict[str, list[Sequence[int]]] = {}
    for path, window in zip(paths, windows, strict=True):
        by_path.setdefault(str(path), []).append(window)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        for path, wins in by_path.items():
            info = raster_info(path)
            chosen = resolve_bands(info, bands)
            unique = sorted(set(chosen))
            if sums is None:
                sums, squares, count = (np.zeros(len(unique)) for _ in range(3))
            with rasterio.open(info.path) as ds:
                for window in wins:
                    win = Window(*[int(v) for v in window])
                    data = ds.read(unique, window=win).astype("float64")
                    valid = np.all(ds.read_masks(unique, window=win) > 0, axis=0) & np.all(np.isfinite(data), axis=0)
                    values = data[:, valid]
                    sums += values.sum(axis=1)
                    squares += (values**2).sum(axis=1)
                    count += values.shape[1]
    if sums is None:
        raise DataFileError("No windows to measure band statistics on", hint="Label at least one tile.")
    unique = sorted(set(chosen))
    mean = sums / np.maximum(count, 1)
    sd = np.sqrt(np.maximum(squares / np.maximum(count, 1) - mean**2, 0.0))
    sd = np.where((count > 0) & (sd > 0), sd, 1.0)
    per = {b: (float(m), float(s)) for b, m, s in zip(unique, mean, sd, strict=True)}
    return tuple(per[b] for b in chosen)


def rgb_composite(images: np.ndarray, bands: BandConfig) -> np.ndarray:
    """An RGB preview (N, H, W, 3) uint8 of images read with ``bands`` (any channel count), for display only.

    Channels named red, green and blue are used when all three are named; otherwise the first three channels (or
    the only one, as grey).
    """
    images = np.asarray(images)
    c = images.shape[-1]
    picks = [bands.role(r) for r in ("red", "green", "blue")]
    if any(p is None for p in picks):
        picks = [0, 1, 2] if c >= 3 else [0, 0, 0]
    out = images[..., picks]
    if out.dtype != np.uint8:
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def band_descriptions(path: str | Path) -> list[str]:
    """Each band's description (its name in the file, e.g. ``"nir"``), ``""`` where it has none; one per band."""
    info = raster_info(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(info.path) as ds:
            return [(d or "").strip() for d in ds.descriptions]
