"""Writers of every file a user downloads: GeoJSON (RFC 7946, EPSG:4326, lon/lat, right-hand polygons) and GeoTIFF.

All writes are atomic (temporary file, then rename): a crash never leaves half a file, and an existing file is only
replaced when ``overwrite=True``. Writer defaults live in one profile per format.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from tlgeo._utils import atomic_path
from tlgeo.errors import GeoreferenceError

#: GDAL GeoJSON layer options: RFC 7946 reprojects to EPSG:4326, writes lon/lat and right-hand (CCW) exteriors.
GEOJSON_PROFILE = {"RFC7946": "YES", "COORDINATE_PRECISION": 7, "WRITE_BBOX": "YES"}


def to_rfc7946(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A copy ready for RFC 7946 GeoJSON: EPSG:4326, exterior rings counter-clockwise, JSON-friendly columns.

    Tuple/list/dict columns (e.g. the tile index ``window``) become strings; numpy scalars become Python values.

    Raises:
        GeoreferenceError: The frame has no CRS.
    """
    if gdf.crs is None:
        raise GeoreferenceError(
            "Cannot export features without a CRS", hint="Set the GeoDataFrame's CRS (gdf.set_crs) before exporting."
        )
    out = gdf.to_crs(4326) if gdf.crs.to_epsg() != 4326 else gdf.copy()
    out = out.set_geometry(shapely.orient_polygons(out.geometry.values, exterior_cw=False))
    for col in out.columns:
        if col == out.geometry.name:
            continue
        series = out[col]
        if series.dtype == object and series.map(lambda v: isinstance(v, (tuple, list, dict, set))).any():
            out[col] = series.map(lambda v: ",".join(str(x) for x in v) if isinstance(v, (tuple, list)) else str(v))
        elif pd.api.types.is_bool_dtype(series):
            out[col] = series.astype(bool)
        elif isinstance(series.dtype, pd.CategoricalDtype):
            out[col] = series.astype(str)
    return out


def write_geojson(gdf: gpd.GeoDataFrame, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a GeoDataFrame as an RFC 7946 FeatureCollection, atomically.

    Args:
        gdf: Features in any CRS.
        path: Output ``.geojson`` path.
        overwrite: Replace an existing file (otherwise :class:`~tlgeo.errors.OutputExistsError`).

    Returns:
        The path written. ``geopandas.read_file`` reads it back unchanged (CRS ``OGC:CRS84``/EPSG:4326).
    """
    path = Path(path)
    out = to_rfc7946(gdf)
    with atomic_path(path, overwrite=overwrite) as tmp:
        out.to_file(tmp, driver="GeoJSON", engine="pyogrio", layer=path.stem, layer_options=GEOJSON_PROFILE)
    return path


def geojson_bytes(gdf: gpd.GeoDataFrame) -> bytes:
    """The RFC 7946 GeoJSON of ``gdf`` as bytes (for download buttons), written by the same writer as files."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = write_geojson(gdf, Path(tmp) / "out.geojson")
        return path.read_bytes()


def finite_or_none(value: float) -> float | None:
    """JSON has no NaN: map non-finite floats to None."""
    return float(value) if value is not None and np.isfinite(value) else None
