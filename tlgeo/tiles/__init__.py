"""Read tiles and scenes with rasterio; cut scenes into windows; build the tile index.

A *tile* is a georeferenced image chip: a GeoTIFF in any CRS (uint8, uint16 or float; 1–N bands; nodata honoured),
or a PNG/JPEG with a world file (``.pgw``/``.jgw``/``.wld``, CRS from a ``.prj`` beside it) or with explicit bounds.
Scenes are read window by window: cutting one tile never loads the whole scene.

The *tile index* is a GeoDataFrame with one row per tile — ``tile_id``, ``path``, ``window``
(``(col_off, row_off, width, height)`` in pixels of ``path``), ``source``, ``row``, ``col``, ``crs`` and the footprint
``geometry`` in the CRS of the first raster. :func:`footprints_4326` reprojects it for maps and export.
"""

from __future__ import annotations

from tlgeo.tiles.bands import (
    band_descriptions,
    band_moments,
    band_stats,
    check_sources,
    resolve_bands,
    rgb_composite,
    scale_bands,
)
from tlgeo.tiles.index import (
    INDEX_COLUMNS,
    footprints_4326,
    scene_windows,
    tile_index,
    window_footprints,
    window_has_data,
    window_offsets,
)
from tlgeo.tiles.rasters import RASTER_SUFFIXES, WORLD_FILE_SUFFIXES, RasterInfo, Tile, find_rasters, raster_info
from tlgeo.tiles.read import iter_tiles, read_tile, read_window_from, scene_preview, window_overlaps

__all__ = [
    "INDEX_COLUMNS",
    "RASTER_SUFFIXES",
    "WORLD_FILE_SUFFIXES",
    "RasterInfo",
    "Tile",
    "band_descriptions",
    "band_moments",
    "band_stats",
    "check_sources",
    "find_rasters",
    "footprints_4326",
    "iter_tiles",
    "raster_info",
    "read_tile",
    "read_window_from",
    "resolve_bands",
    "rgb_composite",
    "scale_bands",
    "scene_preview",
    "scene_windows",
    "tile_index",
    "window_footprints",
    "window_has_data",
    "window_offsets",
    "window_overlaps",
]
