"""Map basics shared by every map: colours (ordered ramps, qualitative), basemaps, the view, GeoJSON layers, traces."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tlgeo.errors import ConfigError

BASEMAPS = ("white-bg", "open-street-map")


#: Fixed colours of the ordered road classes.
CLASS_COLORS = {"good": "#1a9850", "fair": "#f98e09", "poor": "#d73027"}


#: Colours of ordered levels (indicator levels 0, 1, 2, …): light to dark.
LEVEL_COLORS = ("#f2a541", "#e05a47", "#b23a7a", "#6a2c91", "#2c1a5e")


#: Colours of unordered categories (folds, scenes).
QUALITATIVE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


MISSING_COLOR = "#bdbdbd"


CORRECT_COLOR, WRONG_COLOR = "#2c7bb6", "#d7191c"


ROUGHNESS_SCALE = "RdYlGn_r"


#: Continuous colour scale of numeric targets (values, regression).
VALUE_SCALE = "Viridis"


_MAP_HEIGHT = 520


_MAP_WIDTH = 900


def class_colors(classes: Sequence[str], *, ordered: bool = True) -> dict[str, str]:
    """Colour of each class: good/fair/poor fixed, other ordered classes from a light-to-dark ramp.

    Args:
        classes: Class names in order.
        ordered: ``False`` for unordered classes (land cover): distinct qualitative colours, never a ramp that
            would suggest an order (``TaskData.is_ordered`` / ``Run.ordered`` say which).
    """
    classes = [str(c) for c in classes]
    if not ordered:
        return {c: QUALITATIVE[i % len(QUALITATIVE)] for i, c in enumerate(classes)}
    if set(classes) <= set(CLASS_COLORS):
        return {c: CLASS_COLORS[c] for c in classes}
    if len(classes) <= len(LEVEL_COLORS):
        ramp = np.linspace(0, len(LEVEL_COLORS) - 1, len(classes)).round().astype(int) if len(classes) > 1 else [0]
        return {c: LEVEL_COLORS[i] for c, i in zip(classes, ramp, strict=True)}
    return {c: QUALITATIVE[i % len(QUALITATIVE)] for i, c in enumerate(classes)}


def check_basemap(basemap: str) -> str:
    """Validate a basemap name.

    Raises:
        ConfigError: Not one of :data:`BASEMAPS`.
    """
    if basemap not in BASEMAPS:
        raise ConfigError(f"Unknown basemap {basemap!r}", hint=f"Use one of: {', '.join(BASEMAPS)}.")
    return basemap


def to_lonlat(frame: gpd.GeoDataFrame | pd.DataFrame) -> gpd.GeoDataFrame | pd.DataFrame:
    """A GeoDataFrame in EPSG:4326 (reprojected if needed); a plain DataFrame with lon/lat is returned as it is."""
    if isinstance(frame, gpd.GeoDataFrame):
        if frame.crs is None:
            raise ConfigError("Cannot map features without a CRS", hint="Set the GeoDataFrame's CRS first.")
        return frame if frame.crs.to_epsg() == 4326 else frame.to_crs(4326)
    if not {"lon", "lat"} <= set(frame.columns):
        raise ConfigError(f"A table to map needs lon and lat columns, found {', '.join(map(str, frame.columns))}")
    return frame


def bounds_of(*frames: gpd.GeoDataFrame | pd.DataFrame | None) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees over every non-empty frame."""
    boxes = []
    for f in frames:
        if f is None or len(f) == 0:
            continue
        f = to_lonlat(f)
        if isinstance(f, gpd.GeoDataFrame):
            b = f.total_bounds
        else:
            b = (f["lon"].min(), f["lat"].min(), f["lon"].max(), f["lat"].max())
        if np.all(np.isfinite(b)):
            boxes.append(b)
    if not boxes:
        return (-180.0, -60.0, 180.0, 75.0)
    arr = np.asarray(boxes, dtype="float64")
    return (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max()))


def _merc_y(lat: float) -> float:
    lat = max(min(lat, 85.0), -85.0)
    return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def map_view(
    bounds: Sequence[float], *, width_px: int = _MAP_WIDTH, height_px: int = _MAP_HEIGHT
) -> tuple[dict[str, float], float]:
    """Centre and zoom that fit ``bounds`` (west, south, east, north) into a map of the given size.

    MapLibre's world is 512 px wide at zoom 0; the zoom is the largest that fits both spans, minus a small margin.
    """
    west, south, east, north = (float(v) for v in bounds)
    center = {"lon": (west + east) / 2, "lat": (south + north) / 2}
    lon_span = max(east - west, 1e-6)
    y_span = max(abs(_merc_y(north) - _merc_y(south)), 1e-8)
    zoom_x = math.log2(width_px * 360.0 / (512.0 * lon_span))
    zoom_y = math.log2(height_px * 2 * math.pi / (512.0 * y_span))
    zoom = min(zoom_x, zoom_y) - 0.3
    return center, float(min(max(zoom, 0.5), 18.0))


def _map_layout(
    fig: go.Figure,
    bounds: Sequence[float],
    basemap: str,
    *,
    title: str | None = None,
    legend_title: str | None = None,
    height: int = _MAP_HEIGHT,
    view: Sequence[float] | None = None,
) -> go.Figure:
    check_basemap(basemap)
    center, zoom = map_view(view if view is not None else bounds, height_px=height)
    fig.update_layout(
        map={"style": basemap, "center": center, "zoom": zoom},
        height=height,
        margin={"l": 0, "r": 0, "t": 40 if title else 8, "b": 0},
        title={"text": title} if title else None,
        legend={
            "title": {"text": legend_title or ""},
            "bgcolor": "rgba(255,255,255,0.85)",
            "x": 0.01,
            "y": 0.99,
            "xanchor": "left",
            "yanchor": "top",
        },
        showlegend=True,
    )
    return fig


def add_map_layers(fig: go.Figure, layers: Sequence[Mapping], *, below: bool = False) -> go.Figure:
    """Add image layers (``tlgeo.overview.image_layer``) to a map figure, under its traces.

    Args:
        fig: A map figure.
        layers: Layer dicts (``sourcetype="image"``, data URI, four lon/lat corners).
        below: Put them under the layers already there (scene imagery under a prediction raster).
    """
    old = [dict(layer.to_plotly_json()) for layer in (fig.layout.map.layers or ())]
    new = [dict(layer) for layer in layers]
    fig.layout.map.layers = new + old if below else old + new  # assigned: update_layout would merge by index
    return fig


def _geojson(gdf: gpd.GeoDataFrame) -> dict:
    """FeatureCollection whose feature ids are the row positions (as strings)."""
    geoms = gdf.geometry.reset_index(drop=True)
    return json.loads(gpd.GeoSeries(geoms.values, crs=gdf.crs).to_json(drop_id=False))


def _hover(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray | None, str]:
    """customdata and hovertemplate lines for ``columns`` (floats shown with 3 decimals)."""
    cols = [c for c in columns if c in frame.columns]
    if not cols:
        return None, ""
    data = frame[cols].to_numpy(dtype=object)
    lines = []
    for i, c in enumerate(cols):
        fmt = ":.3f" if pd.api.types.is_float_dtype(frame[c]) else ""
        lines.append(f"{c}: %{{customdata[{i}]{fmt}}}")
    return data, "<br>".join(lines)


def _category_series(values: pd.Series, order: Sequence[str], missing: str) -> pd.Series:
    out = values.astype(object).where(values.notna(), missing).astype(str)
    return out.where(out.isin(list(order)), missing)


def _polygon_layers(
    fig: go.Figure,
    gdf: gpd.GeoDataFrame,
    category: pd.Series,
    order: Sequence[str],
    colors: Mapping[str, str],
    *,
    hover: Sequence[str] = (),
    opacity: float = 0.7,
    missing: str | None = None,
) -> None:
    """One Choroplethmap trace per category (constant colour), so the legend lists the categories in order."""
    names = list(order) + ([missing] if missing and (category == missing).any() else [])
    for name in names:
        mask = (category == name).to_numpy()
        if not mask.any():
            continue
        part = gdf[mask]
        custom, template = _hover(part, hover)
        color = colors.get(name, MISSING_COLOR)
        fig.add_trace(
            go.Choroplethmap(
                geojson=_geojson(part),
                locations=[str(i) for i in range(len(part))],
                featureidkey="id",
                z=np.ones(len(part)),
                colorscale=[[0, color], [1, color]],
                showscale=False,
                marker={"opacity": opacity if name != missing else 0.35, "line": {"width": 0.5, "color": "white"}},
                name=str(name),
                legendgroup=str(name),
                showlegend=True,
                customdata=custom,
                hovertemplate=f"<b>{name}</b><br>{template}<extra></extra>" if template else f"{name}<extra></extra>",
            )
        )


def _line_coords(geoms: Sequence, values: Sequence | None = None) -> tuple[list, list, list]:
    """lon, lat (None-separated) and per-vertex text for LineString/MultiLineString geometries."""
    lons: list = []
    lats: list = []
    texts: list = []
    for k, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        parts = geom.geoms if geom.geom_type.startswith("Multi") else [geom]
        for part in parts:
            xy = np.asarray(part.coords)
            lons += [*xy[:, 0].tolist(), None]
            lats += [*xy[:, 1].tolist(), None]
            text = "" if values is None else values[k]
            texts += [text] * len(xy) + [None]
    return lons, lats, texts


def _lines_trace(
    geoms: Sequence, texts: Sequence | None, *, name: str, color: str, width: float, hover: bool = True
) -> go.Scattermap:
    """One legend entry of lines (LineString/MultiLineString in lon/lat) with per-line hover text."""
    lons, lats, vtext = _line_coords(geoms, texts)
    return go.Scattermap(
        lon=lons,
        lat=lats,
        mode="lines",
        line={"width": width, "color": color},
        name=name,
        text=vtext if hover else None,
        hovertemplate="%{text}<extra></extra>" if hover else None,
        hoverinfo=None if hover else "skip",
    )


def _outline_trace(footprints: gpd.GeoDataFrame, name: str = "scene footprint") -> go.Scattermap:
    boundary = [g.exterior if g.geom_type == "Polygon" else g.boundary for g in footprints.geometry]
    labels = footprints["source"].astype(str).tolist() if "source" in footprints else None
    lons, lats, texts = _line_coords(boundary, labels)
    return go.Scattermap(
        lon=lons,
        lat=lats,
        mode="lines",
        line={"width": 2, "color": "#444444"},
        name=name,
        text=texts,
        hovertemplate="%{text}<extra>scene</extra>",
    )


def scene_outlines(tiles: gpd.GeoDataFrame, by: str = "source") -> gpd.GeoDataFrame:
    """One footprint polygon per scene (the union of its tiles' footprints), in EPSG:4326."""
    t = to_lonlat(tiles)
    out = t[[by, t.geometry.name]].dissolve(by=by).reset_index()
    return gpd.GeoDataFrame(out, geometry=out.geometry.name, crs=4326)
