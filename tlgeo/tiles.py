"""Read tiles and scenes with rasterio; cut scenes into windows; build the tile index.

A *tile* is a georeferenced image chip: a GeoTIFF in any CRS (uint8, uint16 or float; 1–N bands; nodata honoured),
or a PNG/JPEG with a world file (``.pgw``/``.jgw``/``.wld``, CRS from a ``.prj`` beside it) or with explicit bounds.
Scenes are read window by window: cutting one tile never loads the whole scene.

The *tile index* is a GeoDataFrame with one row per tile — ``tile_id``, ``path``, ``window``
(``(col_off, row_off, width, height)`` in pixels of ``path``), ``source``, ``row``, ``col``, ``crs`` and the footprint
``geometry`` in the CRS of the first raster. :func:`footprints_4326` reprojects it for maps and export.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.transform import Affine, from_bounds
from rasterio.windows import Window

from tlgeo._utils import check_file
from tlgeo.config import BandConfig
from tlgeo.errors import BandError, ConfigError, DataFileError, GeoreferenceError, RasterError

RASTER_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")
WORLD_FILE_SUFFIXES = {
    ".png": (".pgw", ".pngw", ".wld"),
    ".jpg": (".jgw", ".jpgw", ".wld"),
    ".jpeg": (".jgw", ".jpegw", ".wld"),
    ".tif": (".tfw", ".tifw", ".wld"),
    ".tiff": (".tfw", ".tiffw", ".wld"),
}
INDEX_COLUMNS = ["tile_id", "path", "window", "source", "row", "col", "crs", "geometry"]
_STATS_MAX_PIXELS = 1024


@dataclass(frozen=True)
class RasterInfo:
    """What a raster holds, as far as tlgeo cares."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS
    transform: Affine
    nodata: float | None
    alpha_band: int | None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in ``crs``."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    @property
    def data_bands(self) -> int:
        """Band count without the alpha band."""
        return self.count - (1 if self.alpha_band else 0)

    @property
    def resolution(self) -> float:
        """Pixel size in CRS units (mean of x and y)."""
        return float((abs(self.transform.a) + abs(self.transform.e)) / 2)


@dataclass
class Tile:
    """One tile read and scaled for a backbone.

    Attributes:
        image: float32 array (H, W, C), one channel per band read, values in 0–255; invalid (nodata) pixels are 0.
        valid: bool array (H, W), True where every selected band has data.
        crs: CRS of the source raster.
        transform: Affine transform of this tile's pixels.
        path: Source file.
        window: ``(col_off, row_off, width, height)`` read from the source.
    """

    image: np.ndarray
    valid: np.ndarray
    crs: CRS
    transform: Affine
    path: Path
    window: tuple[int, int, int, int]

    @property
    def valid_fraction(self) -> float:
        """Share of pixels with data."""
        return float(self.valid.mean()) if self.valid.size else 0.0


def _world_file_crs(path: Path) -> CRS | None:
    prj = path.with_suffix(".prj")
    if prj.exists():
        try:
            return CRS.from_wkt(prj.read_text(encoding="utf-8", errors="replace").strip())
        except Exception as exc:  # rasterio raises CRSError; report it as a georeference problem
            raise GeoreferenceError(
                f"{prj} does not hold a readable CRS ({exc})",
                hint="Write the CRS as WKT into the .prj file, e.g. from QGIS or pyproj.",
                path=prj,
            ) from exc
    return None


def raster_info(
    path: str | Path,
    *,
    bounds: Sequence[float] | None = None,
    crs: CRS | str | int | None = None,
) -> RasterInfo:
    """Open a raster and check its georeference.

    Args:
        path: GeoTIFF, or PNG/JPEG with a world file (+ ``.prj``) or with ``bounds`` and ``crs``.
        bounds: ``(left, bottom, right, top)`` for an image without a world file.
        crs: CRS of ``bounds`` (or of a world file without ``.prj``).

    Raises:
        DataFileError: Missing or empty file.
        RasterError: Not a raster, or corrupt.
        GeoreferenceError: No CRS, or no georeference and no ``bounds``.
    """
    path = check_file(path, "Raster file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                transform = ds.transform
                ds_crs = ds.crs
                interp = ds.colorinterp
                info = dict(width=ds.width, height=ds.height, count=ds.count, dtype=ds.dtypes[0], nodata=ds.nodata)
    except RasterioIOError as exc:
        raise RasterError(
            f"{path} is not a readable raster ({exc})",
            hint="Use a GeoTIFF, or a PNG/JPEG with a world file; re-export the file if it is damaged.",
            path=path,
        ) from exc
    from tlgeo.limits import check_pixels

    check_pixels(path, info["width"], info["height"])
    alpha = next((i + 1 for i, c in enumerate(interp) if c == ColorInterp.alpha), None)
    if bounds is not None:
        if len(bounds) != 4 or not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
            raise GeoreferenceError(
                f"bounds for {path} must be (left, bottom, right, top) with left < right and bottom < top, "
                f"received {tuple(bounds)!r}",
                path=path,
            )
        transform = from_bounds(*bounds, info["width"], info["height"])
    elif transform.is_identity:
        raise GeoreferenceError(
            f"{path} has no georeference",
            hint=f"Put a world file ({', '.join(WORLD_FILE_SUFFIXES.get(path.suffix.lower(), ('.wld',)))}) and a .prj "
            "beside it, or give its bounds and CRS.",
            path=path,
        )
    if crs is not None:
        ds_crs = CRS.from_user_input(crs)
    if ds_crs is None:
        ds_crs = _world_file_crs(path)
    if ds_crs is None:
        raise GeoreferenceError(
            f"{path} has no CRS",
            hint="Assign one (e.g. `gdal_edit.py -a_srs EPSG:32737 FILE`) or put a .prj beside the file.",
            path=path,
        )
    return RasterInfo(path=path, crs=ds_crs, transform=transform, alpha_band=alpha, **info)


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


def scene_preview(path: str | Path, bands: BandConfig, max_size: int = 384) -> np.ndarray:
    """An RGB preview (H, W, 3) uint8 of a whole scene read with ``bands`` (three bands: red, green, blue), its
    longer side ``max_size`` pixels, through the same reader and scaling as training (:func:`read_tile`,
    :func:`rgb_composite`); nodata pixels are black."""
    from PIL import Image

    info = raster_info(path)
    tile = read_tile(info.path, None, bands, out_size=max_size, info=info)
    rgb = rgb_composite(tile.image[None], bands)[0]
    scale = max_size / max(info.width, info.height)
    shape = (max(1, round(info.width * scale)), max(1, round(info.height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(shape, Image.BILINEAR))


def read_tile(
    path: str | Path,
    window: Sequence[int] | Window | None = None,
    bands: BandConfig | None = None,
    *,
    out_size: int | None = None,
    bounds: Sequence[float] | None = None,
    crs: CRS | str | int | None = None,
    info: RasterInfo | None = None,
) -> Tile:
    """Read one tile (a window of a scene, or a whole small file) as C channels (one per band read) in 0–255.

    Args:
        path: Raster file.
        window: ``(col_off, row_off, width, height)`` or a rasterio ``Window``; ``None`` reads the whole file.
        bands: Band selection and scaling (default: 3-band or 1-band 8-bit, unscaled).
        out_size: Resample the tile to ``out_size`` × ``out_size`` pixels (bilinear) while reading.
        bounds: ``(left, bottom, right, top)`` for an image without a world file.
        crs: CRS for ``bounds``.
        info: Already-opened :class:`RasterInfo` (saves re-checking the file).

    Returns:
        A :class:`Tile`; pixels where any selected band is nodata (or alpha is 0) are 0 and ``valid`` is False.

    Raises:
        RasterError / GeoreferenceError / BandError: with the file named and the fix.
    """
    bands = bands or BandConfig()
    info = info or raster_info(path, bounds=bounds, crs=crs)
    chosen = resolve_bands(info, bands)
    _check_scaling(info, bands)
    if window is None:
        win = Window(0, 0, info.width, info.height)
    elif isinstance(window, Window):
        win = window
    else:
        win = Window(*[int(v) for v in window])
    if not window_overlaps(info, win):
        raise RasterError(
            f"Window {tuple(int(v) for v in (win.col_off, win.row_off, win.width, win.height))} lies outside "
            f"{info.path} ({info.width} × {info.height} px)",
            hint="Rebuild the tile index for this file.",
            path=info.path,
        )
    stats = band_stats(info.path, bands, info)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(info.path) as ds:
                return read_window_from(ds, info, chosen, stats, win, out_size)
    except RasterioIOError as exc:
        raise RasterError(
            f"Reading {info.path} failed ({exc})", hint="The file may be truncated; export it again.", path=info.path
        ) from exc


def read_window_from(
    ds: rasterio.io.DatasetReader,
    info: RasterInfo,
    chosen: tuple[int, ...],
    stats: Sequence[tuple[float, float]],
    win: Window,
    out_size: int | None,
) -> Tile:
    """Read one window from an open dataset: the chosen bands, scaled by ``stats``, masked, optionally resampled.

    The single place where pixels become backbone input — training (:func:`iter_tiles`) and prediction both call it.

    Args:
        ds: Open rasterio dataset of ``info.path``.
        info: Its :class:`RasterInfo`.
        chosen: 1-based bands, one per channel (:func:`resolve_bands`).
        stats: Per-band (low, high) from :func:`band_stats`.
        win: Window to read.
        out_size: Resample to ``out_size`` × ``out_size`` (bilinear), or ``None``.
    """
    shape = (out_size, out_size) if out_size else (int(win.height), int(win.width))
    unique = sorted(set(chosen))
    data, masks = _read_window(ds, info, unique, win, shape)
    pos = {b: i for i, b in enumerate(unique)}
    data = data[[pos[b] for b in chosen]]
    valid = np.all(masks > 0, axis=0)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.all(np.isfinite(data), axis=0)
    image = scale_bands(data, stats)
    image[~valid] = 0.0
    transform = rasterio.windows.transform(win, info.transform)
    if out_size:
        transform = transform @ Affine.scale(win.width / out_size, win.height / out_size)
    return Tile(
        image=image,
        valid=valid,
        crs=info.crs,
        transform=transform,
        path=info.path,
        window=(int(win.col_off), int(win.row_off), int(win.width), int(win.height)),
    )


def window_overlaps(info: RasterInfo, win: Window) -> bool:
    """True when ``win`` shares at least one pixel with the raster (it may reach past the edges)."""
    return (
        win.col_off < info.width
        and win.row_off < info.height
        and win.col_off + win.width > 0
        and win.row_off + win.height > 0
        and win.width > 0
        and win.height > 0
    )


def _read_window(
    ds: rasterio.io.DatasetReader, info: RasterInfo, indexes: list[int], win: Window, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Bands and masks of a window; a window reaching past the raster's edges is padded (masked, filled with nodata).

    Chips centred on labels near a scene edge need such windows; grid windows never leave the raster.
    """
    inside = (
        win.col_off >= 0
        and win.row_off >= 0
        and win.col_off + win.width <= info.width
        and win.row_off + win.height <= info.height
    )
    kw = {} if inside else {"boundless": True}
    fill = {} if inside else {"fill_value": info.nodata if info.nodata is not None else 0}
    data = ds.read(indexes, window=win, out_shape=(len(indexes), *shape), resampling=Resampling.bilinear, **kw, **fill)
    masks = ds.read_masks(indexes, window=win, out_shape=(len(indexes), *shape), resampling=Resampling.nearest, **kw)
    return data, masks


def iter_tiles(
    paths: Sequence[str | Path],
    windows: Sequence[Sequence[int]],
    bands: BandConfig | None = None,
    *,
    out_size: int | None = None,
) -> Iterable[Tile]:
    """Read many tiles in order, opening each source file once (windowed reads; the scene is never loaded whole).

    Args:
        paths: Source file of each tile.
        windows: ``(col_off, row_off, width, height)`` of each tile.
        bands: Band selection and scaling.
        out_size: Resample every tile to ``out_size`` × ``out_size``.
    """
    bands = bands or BandConfig()
    opened: dict[str, tuple[rasterio.io.DatasetReader, RasterInfo, tuple[int, ...], tuple]] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            for path, window in zip(paths, windows, strict=True):
                key = str(path)
                if key not in opened:
                    info = raster_info(path)
                    chosen = resolve_bands(info, bands)
                    _check_scaling(info, bands)
                    stats = band_stats(info.path, bands, info)
                    opened[key] = (rasterio.open(info.path), info, chosen, stats)
                ds, info, chosen, stats = opened[key]
                win = Window(*[int(v) for v in window])
                try:
                    yield read_window_from(ds, info, chosen, stats, win, out_size)
                except RasterioIOError as exc:
                    raise RasterError(
                        f"Reading {info.path} failed ({exc})",
                        hint="The file may be truncated; export it again.",
                        path=info.path,
                    ) from exc
    finally:
        for ds, *_ in opened.values():
            ds.close()


def window_offsets(length: int, size: int, stride: int) -> list[int]:
    """Offsets of windows of ``size`` every ``stride`` pixels; the last window ends exactly at ``length``."""
    if size > length:
        return []
    offsets = list(range(0, length - size + 1, stride))
    if offsets[-1] + size < length:
        offsets.append(length - size)
    return offsets


def scene_windows(info: RasterInfo, size: int, stride: int | None = None) -> list[tuple[int, int, int, int, int, int]]:
    """Grid of windows over a scene: ``(row, col, col_off, row_off, size, size)``, reaching the right and bottom edges.

    Raises:
        RasterError: The tile size is larger than the scene.
    """
    stride = stride or size
    if size > info.width or size > info.height:
        raise RasterError(
            f"Tile size {size} px is larger than {info.path} ({info.width} × {info.height} px)",
            hint=(
                f"Use a tile size of at most {min(info.width, info.height)} px ([tiles] size in tlgeo.toml), "
                "or treat the file as one tile."
                if min(info.width, info.height) >= 8
                else "The file is smaller than the smallest tile (8 px); use a larger raster."
            ),
            path=info.path,
        )
    rows = window_offsets(info.height, size, stride)
    cols = window_offsets(info.width, size, stride)
    return [(r, c, co, ro, size, size) for r, ro in enumerate(rows) for c, co in enumerate(cols)]


def find_rasters(folder: str | Path) -> list[Path]:
    """Raster files (``.tif``, ``.tiff``, ``.png``, ``.jpg``, ``.jpeg``) in a folder and its sub-folders, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(f"Imagery folder {folder} does not exist", hint="Put GeoTIFFs in imagery/.", path=folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    if not files:
        raise DataFileError(
            f"No raster files in {folder}", hint=f"Add files ending in {', '.join(RASTER_SUFFIXES)}.", path=folder
        )
    return files


def _window_valid_fraction(path: Path, window: tuple[int, int, int, int]) -> float:
    """Share of valid pixels of one window, read on its own at 1/4 resolution (nearest).

    The reference validity rule: :func:`window_has_data` gives exactly the same answer for every window at once and
    is what :func:`tile_index` uses (this one costs a dataset open and a read per window).
    """
    with rasterio.open(path) as ds:
        w = Window(*window)
        shape = (max(1, int(w.height) // 4), max(1, int(w.width) // 4))
        mask = ds.dataset_mask(window=w, out_shape=shape, resampling=Resampling.nearest)
    return float((mask > 0).mean())


#: Pixels of mask read at once by :func:`window_has_data` (full-width strips of about this size).
_MASK_STRIP_PIXELS = 1 << 22


def _nearest_samples(length: int) -> np.ndarray:
    """Offsets GDAL's nearest resampling reads when ``length`` pixels are decimated to ``max(1, length // 4)``."""
    out = max(1, length // 4)
    pos = np.floor((np.arange(out) + 0.5) * (length / out) + 1e-10).astype("int64")
    return np.clip(pos, 0, length - 1)


def window_has_data(info: RasterInfo, windows: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """Which windows hold at least one valid pixel, reading the raster's mask once.

    The rule is that of :func:`_window_valid_fraction` (the dataset mask — nodata, alpha or internal mask — sampled
    by nearest resampling at 1/4 of the window's size), evaluated for all windows together: the mask is read once,
    full-width strip by strip at full resolution, only the rows some window samples are kept, and every window's
    answer is an ``any`` over its sampled rows and columns (vectorised over the grid of windows).

    Args:
        info: The raster.
        windows: ``(col_off, row_off, width, height)`` per window.

    Returns:
        Boolean array, one value per window.
    """
    wins = np.asarray(windows, dtype="int64").reshape(-1, 4)
    result = np.zeros(len(wins), dtype=bool)
    if not len(wins):
        return result
    # rows sampled by any window
    groups: dict[tuple[int, int], np.ndarray] = {}
    for key in {(int(w), int(h)) for w, h in wins[:, 2:4]}:
        groups[key] = np.flatnonzero((wins[:, 2] == key[0]) & (wins[:, 3] == key[1]))
    needed = np.unique(
        np.concatenate(
            [(wins[idx, 1][:, None] + _nearest_samples(h)[None, :]).ravel() for (_, h), idx in groups.items()]
        )
    )
    rows = np.zeros((needed.size, info.width), dtype=bool)
    strip = max(1, _MASK_STRIP_PIXELS // max(1, info.width))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(info.path) as ds:
            if ds.block_shapes and ds.block_shapes[0][0] > 1:  # strips aligned to the file's blocks
                bh = ds.block_shapes[0][0]
                strip = max(bh, strip // bh * bh)
            lo = 0
            while lo < needed.size:
                r0 = int(needed[lo])
                r1 = min(info.height, r0 - r0 % strip + strip) if strip > 1 else r0 + 1
                hi = int(np.searchsorted(needed, r1))
                mask = ds.dataset_mask(window=Window(0, r0, info.width, r1 - r0))
                rows[lo:hi] = mask[needed[lo:hi] - r0] > 0
                lo = hi
    for (w, h), idx in groups.items():
        ro, co = wins[idx, 1], wins[idx, 0]
        urow, row_of = np.unique(ro, return_inverse=True)
        ucol, col_of = np.unique(co, return_inverse=True)
        sampled = np.searchsorted(needed, urow[:, None] + _nearest_samples(h)[None, :])  # (nR, h')
        any_row = np.zeros((urow.size, info.width), dtype=bool)
        for j in range(sampled.shape[1]):  # OR of each window row's sampled mask rows → (nR, width)
            any_row |= rows[sampled[:, j]]
        cols = ucol[:, None] + _nearest_samples(w)[None, :]  # (nC, w')
        grid = any_row[:, cols].any(axis=2)  # (nR, nC)
        result[idx] = grid[row_of, col_of]
    return result


def window_footprints(transform: Affine, windows: np.ndarray) -> np.ndarray:
    """Footprint boxes of ``(col_off, row_off, width, height)`` windows, vectorised.

    Bit for bit the boxes of ``rasterio.windows.transform(window, transform)`` at pixel corners ``(0, 0)`` and
    ``(width, height)`` (the same floating-point operations in the same order, on arrays).
    """
    win = np.asarray(windows, dtype="int64").reshape(-1, 4)
    co, ro, w, h = (win[:, i] for i in range(4))
    a, b, c, d, e, f = transform[:6]
    x = co * a + ro * b + c
    y = co * d + ro * e + f
    c_w = 1.0 * c + 0.0 * f + (x - c)  # Affine.translation(x - c, y - f) @ transform, as rasterio composes it
    f_w = 0.0 * c + 1.0 * f + (y - f)
    x1 = w * a + h * b + c_w
    y1 = w * d + h * e + f_w
    return shapely.box(np.minimum(c_w, x1), np.minimum(f_w, y1), np.maximum(c_w, x1), np.maximum(f_w, y1))


def tile_index(
    sources: str | Path | Iterable[str | Path],
    size: int | None = None,
    stride: int | None = None,
    *,
    skip_empty: bool = False,
) -> gpd.GeoDataFrame:
    """Build the tile index for a folder or a list of raster files.

    Args:
        sources: A folder (searched recursively), one file, or several files.
        size: Cut every raster into ``size`` × ``size`` windows; ``None`` makes each file one tile.
        stride: Window step (default ``size``); the last row and column of windows always reach the scene edge.
        skip_empty: Leave out windows with no valid pixel (all nodata); the mask is read once per file
            (:func:`window_has_data`).

    Returns:
        GeoDataFrame with :data:`INDEX_COLUMNS`, in the CRS of the first raster (footprints of rasters in other CRSs
        are reprojected into it; their own CRS stays in the ``crs`` column).
    """
    if isinstance(sources, (str, Path)):
        p = Path(sources)
        files = find_rasters(p) if p.is_dir() else [p]
    else:
        files = [Path(s) for s in sources]
    if not files:
        raise DataFileError("No raster files given", hint="Pass a folder or at least one GeoTIFF.")
    infos = [raster_info(f) for f in files]
    stems = [f.stem for f in files]
    dup = {s for s in stems if stems.count(s) > 1}
    frames = []
    index_crs = infos[0].crs
    for f, info in zip(files, infos, strict=True):
        source = f"{f.parent.name}_{f.stem}" if f.stem in dup else f.stem
        if size is None:
            wins = [(0, 0, 0, 0, info.width, info.height)]
        else:
            wins = scene_windows(info, size, stride)
        keep = window_has_data(info, [(co, ro, w, h) for _, _, co, ro, w, h in wins]) if skip_empty else None
        sel = [k for k in range(len(wins)) if keep is None or keep[k]]
        grid = np.asarray([wins[k] for k in sel], dtype="int64").reshape(-1, 6)
        windows = [(int(co), int(ro), int(w), int(h)) for co, ro, w, h in grid[:, 2:6].tolist()]
        rows = {
            "tile_id": [source] * len(sel)
            if size is None
            else [f"{source}_r{r:03d}_c{c:03d}" for r, c in grid[:, :2].tolist()],
            "path": [str(info.path)] * len(sel),
            "window": windows,
            "source": [source] * len(sel),
            "row": grid[:, 0],
            "col": grid[:, 1],
            "crs": [info.crs.to_string()] * len(sel),
            "geometry": window_footprints(info.transform, grid[:, 2:6]),
        }
        if not sel:
            rows = []
        frame = gpd.GeoDataFrame(rows, columns=INDEX_COLUMNS, geometry="geometry", crs=info.crs)
        if info.crs != index_crs:
            frame = frame.to_crs(index_crs)
        frames.append(frame)
    index = gpd.GeoDataFrame(gpd.pd.concat(frames, ignore_index=True), geometry="geometry", crs=index_crs)
    return index


def footprints_4326(index: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The tile index with footprints in EPSG:4326 (lon/lat), for maps and export."""
    if index.crs is None:
        raise GeoreferenceError("The tile index has no CRS", hint="Build it with tlgeo.tiles.tile_index.")
    return index.to_crs(4326)
