"""Road geometry: predicted tile classes mapped along road lines (pieces of road inside each window's core)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from tlgeo.errors import (
    ConfigError,
)
from tlgeo.schema import PROB

if TYPE_CHECKING:
    pass
from tlgeo.predict.predictor import PredictionResult


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
        preds = [c for c in frame.columns if c in ("label", "class_index") or c.startswith(PROB)]
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
        if any(c in (f"{t}_label", f"{t}_class_index") or c.startswith(f"{t}_{PROB}") for t in chosen)
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
