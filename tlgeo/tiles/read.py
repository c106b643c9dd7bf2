"""Reading pixels: a tile or a window of a scene, resampled to the model's input size, padded and masked at edges."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.transform import Affine
from rasterio.windows import Window

from tlgeo.config import BandConfig
from tlgeo.errors import RasterError
from tlgeo.tiles.bands import _check_scaling, band_stats, resolve_bands, rgb_composite, scale_bands
from tlgeo.tiles.rasters import RasterInfo, Tile, raster_info


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
