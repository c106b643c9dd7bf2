"""The road network of a task folder (``roads.geojson``): road lines to map predictions along, driven or not."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from tlgeo.errors import DataFileError, LabelError

#: File names of a task's road network (road lines, driven or not — e.g. an OpenStreetMap extract).
NETWORK_FILES = ("roads.geojson", "roads.gpkg", "roads.json")


def find_road_network(taskdir: str | Path) -> Path | None:
    """``TASKDIR/roads.geojson`` (or ``.gpkg``/``.json``) if the task has a road network file."""
    for name in NETWORK_FILES:
        path = Path(taskdir) / name
        if path.is_file():
            return path
    return None


def read_road_network(path: str | Path) -> gpd.GeoDataFrame:
    """Road lines (LineString/MultiLineString, any CRS) as EPSG:4326, e.g. OpenStreetMap roads of the imagery.

    Predictions are drawn along these lines (:func:`tlgeo.predict.predictions_along_roads`), so roads nobody drove
    get a predicted quality too. Columns are kept.

    Raises:
        DataFileError: Missing, empty or unreadable file.
        GeoreferenceError: The file has no CRS.
        LabelError: No line geometries.
    """
    from tlgeo._utils import check_file
    from tlgeo.errors import GeoreferenceError

    path = check_file(path, "Road network file")
    try:
        roads = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises its own error types for unreadable files
        raise DataFileError(
            f"{path} is not a readable vector file ({exc})", hint="Export the road lines as GeoJSON or GPKG.", path=path
        ) from exc
    if roads.crs is None:
        raise GeoreferenceError(
            f"{path} has no CRS", hint="Save it with a CRS (GeoJSON is EPSG:4326 by definition).", path=path
        )
    lines = roads[roads.geometry.notna() & roads.geom_type.isin(["LineString", "MultiLineString"])]
    if lines.empty:
        raise LabelError(
            f"{path} holds no LineString geometries ({', '.join(sorted(set(roads.geom_type.dropna())) or ['none'])})",
            hint="Give road centrelines as lines.",
            path=path,
        )
    return lines.to_crs(4326).reset_index(drop=True)
