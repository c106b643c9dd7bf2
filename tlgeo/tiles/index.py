"""The tile index: grid windows over scenes (to the edges), windows with data, footprints, one row per tile."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from tlgeo.errors import DataFileError, GeoreferenceError, RasterError
from tlgeo.schema import source_names, tile_id, window_footprints
from tlgeo.tiles.rasters import RasterInfo, find_rasters, raster_info

INDEX_COLUMNS = ["tile_id", "path", "window", "source", "row", "col", "crs", "geometry"]


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
    frames = []
    index_crs = infos[0].crs
    for source, info in zip(source_names(files), infos, strict=True):
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
            else [tile_id(source, r, c) for r, c in grid[:, :2].tolist()],
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
