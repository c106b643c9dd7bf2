"""Plotly figure builders for the dashboard: data in, ``go.Figure`` out (no streamlit, no Keras).

Maps use plotly's MapLibre traces (``go.Scattermap``, ``go.Choroplethmap``) with ``map_style="white-bg"`` by default,
which renders with no network; ``basemap="open-street-map"`` adds OpenStreetMap tiles for users who are online.
Every map sets its centre and zoom from the data's bounds (otherwise the data would sit off-screen at 0°, 0°).
Categorical layers draw one trace per class, in class order, so the legend names every class; ordered road classes
are green / orange / red (good / fair / poor).

Every map takes ``view=(west, south, east, north)`` to centre on part of the data (one scene of several).
Inputs are GeoDataFrames in any CRS (reprojected to EPSG:4326 here) or plain DataFrames with ``lon``/``lat``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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


# --------------------------------------------------------------------------------------------- helpers
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


# --------------------------------------------------------------------------------------------- maps
def footprints_map(
    footprints: gpd.GeoDataFrame,
    *,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Scene footprints as outlines (one polygon per row; ``source`` names it)."""
    fp = to_lonlat(footprints)
    fig = go.Figure(_outline_trace(fp))
    return _map_layout(fig, bounds_of(fp), basemap, title=title, view=view)


def tiles_map(
    tiles: gpd.GeoDataFrame,
    column: str,
    classes: Sequence[str] | None = None,
    *,
    colors: Mapping[str, str] | None = None,
    hover: Sequence[str] = ("tile_id",),
    missing: str | None = "unlabelled",
    footprints: gpd.GeoDataFrame | None = None,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
    legend_title: str | None = None,
    ordered: bool = True,
) -> go.Figure:
    """Tiles coloured by a categorical column (class names, or integer class indices mapped through ``classes``).

    Args:
        tiles: Tile footprints (any CRS).
        column: Column holding class names, or class indices (``-1`` = missing) when ``classes`` is given.
        classes: Ordered class names (legend order); default: the sorted distinct values.
        colors: Colour per class (default :func:`class_colors`).
        hover: Columns shown on hover.
        missing: Legend name of tiles without a class (``None`` hides them).
        footprints: Scene outlines drawn on top.
        basemap: ``"white-bg"`` (offline) or ``"open-street-map"``.
        title: Figure title.
        legend_title: Legend heading (default: ``column``).
        ordered: The classes are ordered (a colour ramp) or not (qualitative colours); see :func:`class_colors`.
    """
    t = to_lonlat(tiles).reset_index(drop=True)
    values = t[column]
    if classes is not None and pd.api.types.is_integer_dtype(values):
        names = np.asarray([str(c) for c in classes], dtype=object)
        idx = values.to_numpy()
        values = pd.Series(np.where((idx >= 0) & (idx < len(names)), names[np.clip(idx, 0, len(names) - 1)], None))
    order = [str(c) for c in classes] if classes is not None else sorted(values.dropna().astype(str).unique())
    category = _category_series(values, order, missing or "__hidden__")
    colors = dict(colors or class_colors(order, ordered=ordered))
    if missing is None:
        keep = (category != "__hidden__").to_numpy()
        t, category = t[keep].reset_index(drop=True), category[keep].reset_index(drop=True)
    fig = go.Figure()
    _polygon_layers(fig, t, category, order, colors, hover=hover, missing=missing)
    if footprints is not None and len(footprints):
        fig.add_trace(_outline_trace(to_lonlat(footprints)))
    return _map_layout(
        fig, bounds_of(t, footprints), basemap, title=title, legend_title=legend_title or column, view=view
    )


def segments_map(
    segments: gpd.GeoDataFrame,
    *,
    color: str = "label",
    classes: Sequence[str] = ("good", "fair", "poor"),
    footprints: gpd.GeoDataFrame | None = None,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
    n_bins: int = 7,
    network: gpd.GeoDataFrame | None = None,
) -> go.Figure:
    """Drive tracks (road segments) as lines, coloured by class or by roughness.

    Args:
        segments: LineStrings with ``label`` (class name, empty = unclassified) and/or ``roughness``.
        color: ``"label"`` (class colours, legend with class names) or a numeric column such as ``"roughness"``
            (binned into ``n_bins`` quantile bins along a green→red scale, with a colour bar).
        classes: Ordered class names.
        footprints: Scene outlines drawn below the tracks.
        basemap: ``"white-bg"`` or ``"open-street-map"``.
        title: Figure title.
        n_bins: Colour bins for a numeric column.
        network: Road lines of the task (driven or not), drawn thin and grey below the tracks: the roads nobody
            drove are the ones a model will predict.
    """
    seg = to_lonlat(segments).reset_index(drop=True)
    fig = go.Figure()
    if footprints is not None and len(footprints):
        fig.add_trace(_outline_trace(to_lonlat(footprints)))
    if network is not None and len(network):
        fig.add_trace(
            _lines_trace(
                to_lonlat(network).geometry.values,
                None,
                name="road network (roads.geojson)",
                color="#9e9e9e",
                width=2,
                hover=False,
            )
        )
    hover_cols = [c for c in ("segment_id", "device_id", "label", "roughness", "speed_kmh") if c in seg]

    def text_of(frame: pd.DataFrame) -> list[str]:
        return [
            "<br>".join(
                f"{c}: {v:.3g}" if isinstance(v, float) else f"{c}: {v}" for c, v in zip(hover_cols, row, strict=True)
            )
            for row in frame[hover_cols].itertuples(index=False)
        ]

    if color == "label":
        category = _category_series(seg["label"], list(classes), "unclassified")
        colors = class_colors(classes)
        for name in [*classes, "unclassified"]:
            part = seg[(category == name).to_numpy()]
            if part.empty:
                continue
            fig.add_trace(
                _lines_trace(
                    part.geometry.values,
                    text_of(part),
                    name=str(name),
                    color=colors.get(name, MISSING_COLOR),
                    width=4 if name != "unclassified" else 2,
                )
            )
        legend_title = "road class"
    else:
        vals = pd.to_numeric(seg[color], errors="coerce")
        ok = vals.notna().to_numpy()
        if ok.any():
            edges = np.unique(np.nanquantile(vals[ok], np.linspace(0, 1, n_bins + 1)))
            if len(edges) < 2:
                edges = np.array([float(vals[ok].min()), float(vals[ok].max()) + 1e-9])
            bins = np.clip(np.searchsorted(edges, vals.to_numpy(), side="right") - 1, 0, len(edges) - 2)
            scale = _sample_scale(ROUGHNESS_SCALE, len(edges) - 1)
            for b in range(len(edges) - 1):
                part = seg[ok & (bins == b)]
                if part.empty:
                    continue
                fig.add_trace(
                    _lines_trace(
                        part.geometry.values,
                        text_of(part),
                        name=f"{edges[b]:.3g}–{edges[b + 1]:.3g}",
                        color=scale[b],
                        width=4,
                    )
                )
        if (~ok).any():
            part = seg[~ok]
            fig.add_trace(
                _lines_trace(part.geometry.values, text_of(part), name="no value", color=MISSING_COLOR, width=2)
            )
        legend_title = color
    return _map_layout(fig, bounds_of(seg, footprints), basemap, title=title, legend_title=legend_title, view=view)


def _sample_scale(name: str, n: int) -> list[str]:
    import plotly.colors as pc

    if n <= 1:
        return pc.sample_colorscale(name, [0.0])
    return pc.sample_colorscale(name, [i / (n - 1) for i in range(n)])


def villages_map(
    villages: gpd.GeoDataFrame,
    indicator: str,
    classes: Sequence[str] | None = None,
    *,
    footprints: gpd.GeoDataFrame | None = None,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Villages coloured by an indicator: points as markers, polygons as filled shapes.

    Integer levels ``0 … L−1`` (or values in ``classes``) get one legend entry each; fractions are binned into
    tertiles for colouring; missing values are grey.
    """
    v = to_lonlat(villages).reset_index(drop=True)
    raw = v[indicator]
    if classes is None:
        num = pd.to_numeric(raw, errors="coerce")
        if num.dropna().between(0, 1).all() and not num.dropna().isin([0, 1]).all():
            q = np.unique(np.nanquantile(num, [0, 1 / 3, 2 / 3, 1]))
            labels = [f"{q[i]:.2f}–{q[i + 1]:.2f}" for i in range(len(q) - 1)]
            idx = np.clip(np.searchsorted(q, num.to_numpy(), side="right") - 1, 0, len(labels) - 1)
            values = pd.Series(np.where(num.notna(), np.asarray(labels, dtype=object)[idx], None))
            classes = labels
        else:
            values = num.astype("Int64").astype(str).where(num.notna(), None)
            classes = sorted(values.dropna().unique(), key=lambda s: float(s))
    else:
        values = raw.map(
            lambda x: None if pd.isna(x) else str(int(x)) if isinstance(x, float) and x.is_integer() else str(x)
        )
    order = [str(c) for c in classes]
    category = _category_series(values, order, "missing")
    colors = class_colors(order)
    id_col = "village_id" if "village_id" in v else None
    hover_cols = [c for c in (id_col, indicator, "tile_id") if c]
    fig = go.Figure()
    geom_types = set(v.geometry.geom_type.dropna())
    if geom_types <= {"Point", "MultiPoint"}:
        pts = v.geometry.representative_point()
        for name in [*order, "missing"]:
            mask = (category == name).to_numpy()
            if not mask.any():
                continue
            custom, template = _hover(v[mask], hover_cols)
            fig.add_trace(
                go.Scattermap(
                    lon=pts[mask].x,
                    lat=pts[mask].y,
                    mode="markers",
                    marker={"size": 11 if name != "missing" else 8, "color": colors.get(name, MISSING_COLOR)},
                    name=name,
                    customdata=custom,
                    hovertemplate=f"<b>{indicator} {name}</b><br>{template}<extra></extra>",
                )
            )
    else:
        _polygon_layers(fig, v, category, order, colors, hover=hover_cols, missing="missing")
    if footprints is not None and len(footprints):
        fig.add_trace(_outline_trace(to_lonlat(footprints)))
    return _map_layout(
        fig, bounds_of(v, footprints), basemap, title=title, legend_title=f"{indicator} level", view=view
    )


def predictions_map(
    predictions: gpd.GeoDataFrame,
    classes: Sequence[str],
    *,
    target: str | None = None,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
    ordered: bool = True,
) -> go.Figure:
    """Predicted tiles coloured by predicted class; hover shows the tile and every class probability.

    Args:
        predictions: Prediction footprints with ``label`` and ``prob_<class>`` (single target) or
            ``<target>_label`` and ``<target>_prob_<class>`` (multi-task).
        classes: Class names of the target.
        target: Target name for multi-task predictions (``None``: single target).
        ordered: Ordered classes get a colour ramp, unordered ones (land cover) categorical colours.
    """
    prefix = f"{target}_" if target else ""
    label_col = f"{prefix}label"
    probs = [f"{prefix}prob_{c}" for c in classes]
    hover = ["tile_id", "source", *[p for p in probs if p in predictions.columns]]
    return tiles_map(
        predictions,
        label_col,
        classes,
        hover=hover,
        missing="no prediction",
        basemap=basemap,
        title=title,
        legend_title=f"predicted {target or 'class'}",
        view=view,
        ordered=ordered,
    )


def labels_map(
    labels: gpd.GeoDataFrame,
    column: str,
    *,
    kind: str = "categorical",
    classes: Sequence[str] | None = None,
    footprints: gpd.GeoDataFrame | None = None,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Labels of a labels file (points; lines and polygons at a point on them) coloured by their class or value.

    Args:
        labels: Labels (any CRS); a ``status`` column (``used`` / anything else) greys out labels left out.
        column: Class column (text) or value column (numbers, for ``kind="continuous"``).
        kind: ``"categorical"`` (qualitative colours, one legend entry per class), ``"ordered"`` (a light-to-dark
            ramp) or ``"continuous"`` (a continuous colour scale with a colour bar).
        classes: Class order for the legend (default: sorted values).
        footprints: Scene outlines drawn under the labels.
    """
    g = to_lonlat(labels).reset_index(drop=True)
    pts = g.geometry.representative_point()
    g = pd.DataFrame({"lon": pts.x, "lat": pts.y, "value": g[column], "status": g.get("status", "used")})
    g["label_id"] = labels["label_id"].to_numpy() if "label_id" in labels else np.arange(len(g)).astype(str)
    used = (g["status"] == "used").to_numpy()
    fig = go.Figure()
    if footprints is not None and len(footprints):
        fig.add_trace(_outline_trace(to_lonlat(footprints)))
    left = g[~used]
    if len(left):
        fig.add_trace(
            go.Scattermap(
                lon=left["lon"],
                lat=left["lat"],
                mode="markers",
                marker={"size": 7, "color": MISSING_COLOR},
                name="left out (see report)",
                text=left["label_id"].astype(str) + " · " + left["value"].astype(str) + " · " + left["status"],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    part = g[used]
    if kind == "continuous":
        values = pd.to_numeric(part["value"], errors="coerce")
        fig.add_trace(
            go.Scattermap(
                lon=part["lon"],
                lat=part["lat"],
                mode="markers",
                marker={"size": 8, "color": values, "colorscale": VALUE_SCALE, "colorbar": {"title": {"text": column}}},
                name=column,
                text=part["label_id"].astype(str),
                customdata=values,
                hovertemplate="%{text}<br>" + column + " = %{customdata:.4g}<extra></extra>",
            )
        )
    else:
        order = [str(c) for c in classes] if classes is not None else sorted(part["value"].astype(str).unique())
        colors = class_colors(order, ordered=kind == "ordered")
        names = part["value"].astype(str)
        for name in order:
            sel = part[names == name]
            if sel.empty:
                continue
            fig.add_trace(
                go.Scattermap(
                    lon=sel["lon"],
                    lat=sel["lat"],
                    mode="markers",
                    marker={"size": 8, "color": colors[name]},
                    name=name,
                    text=sel["label_id"].astype(str),
                    hovertemplate=f"<b>{name}</b><br>label %{{text}}<extra></extra>",
                )
            )
    return _map_layout(
        fig,
        bounds_of(g, footprints),
        basemap,
        title=title,
        legend_title=column if kind != "continuous" else None,
        view=view,
    )


def road_predictions_map(
    roads: gpd.GeoDataFrame,
    classes: Sequence[str] = ("good", "fair", "poor"),
    *,
    label_column: str = "label",
    footprints: gpd.GeoDataFrame | None = None,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Roads drawn as lines coloured by predicted quality (hover shows the class probabilities).

    Args:
        roads: LineStrings with ``label_column`` and ``prob_<class>`` columns (e.g. from
            ``tlgeo.predict.predictions_along_roads``).
        classes: Ordered class names.
        label_column: Column holding the predicted class name.
    """
    r = to_lonlat(roads).reset_index(drop=True)
    colors = class_colors(classes)
    category = _category_series(r[label_column], list(classes), "no prediction")
    cols = [c for c in ("road_id", "segment_id", "tile_id", *[f"prob_{k}" for k in classes]) if c in r]
    fig = go.Figure()
    if footprints is not None and len(footprints):
        fig.add_trace(_outline_trace(to_lonlat(footprints)))
    for name in [*classes, "no prediction"]:
        part = r[(category == name).to_numpy()]
        if part.empty:
            continue
        texts = [
            "<br>".join(
                [f"<b>{name}</b>"]
                + [f"{c}: {v:.3f}" if isinstance(v, float) else f"{c}: {v}" for c, v in zip(cols, row, strict=True)]
            )
            for row in part[cols].itertuples(index=False)
        ]
        fig.add_trace(
            _lines_trace(
                part.geometry.values,
                texts,
                name=str(name),
                color=colors.get(name, MISSING_COLOR),
                width=5 if name != "no prediction" else 2,
            )
        )
    return _map_layout(fig, bounds_of(r, footprints), basemap, title=title, legend_title="predicted quality", view=view)


def folds_map(
    tiles: gpd.GeoDataFrame | pd.DataFrame,
    *,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Tiles (polygons) or tile centres (``lon``/``lat``) coloured by their cross-validation fold."""
    folds = sorted(int(f) for f in pd.unique(tiles["fold"]) if pd.notna(f))
    names = [f"fold {f}" for f in folds]
    colors = {n: QUALITATIVE[i % len(QUALITATIVE)] for i, n in enumerate(names)}
    frame = tiles.copy()
    frame["fold_name"] = frame["fold"].map(lambda f: f"fold {int(f)}" if pd.notna(f) else None)
    hover = [c for c in ("tile_id", "block", "fold") if c in frame]
    return _category_map(frame, "fold_name", names, colors, hover, basemap, title, "test fold", view)


def _category_map(frame, column, order, colors, hover, basemap, title, legend_title, view) -> go.Figure:
    """Tile polygons (a GeoDataFrame) or tile centres (``lon``/``lat`` columns) coloured by a category column."""
    if isinstance(frame, gpd.GeoDataFrame):
        return tiles_map(
            frame,
            column,
            order,
            colors=colors,
            hover=hover,
            missing=None,
            basemap=basemap,
            title=title,
            legend_title=legend_title,
            view=view,
        )
    return _points_map(frame, column, order, colors, hover, basemap, title, legend_title, view)


def errors_map(
    tiles: gpd.GeoDataFrame | pd.DataFrame,
    *,
    true: str = "true_label",
    pred: str = "pred_label",
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Out-of-fold predictions: correct tiles blue, wrong ones red (hover shows truth and prediction)."""
    frame = tiles.copy()
    ok = frame[true].astype(str) == frame[pred].astype(str)
    frame["outcome"] = np.where(ok, "correct", "wrong")
    colors = {"correct": CORRECT_COLOR, "wrong": WRONG_COLOR}
    hover = [c for c in ("tile_id", true, pred, "fold") if c in frame]
    order = ["correct", "wrong"]
    return _category_map(frame, "outcome", order, colors, hover, basemap, title, "out-of-fold prediction", view)


def _points_map(
    frame: pd.DataFrame,
    column: str,
    order: Sequence[str],
    colors: Mapping[str, str],
    hover: Sequence[str],
    basemap: str,
    title: str | None,
    legend_title: str,
    view: Sequence[float] | None = None,
) -> go.Figure:
    fig = go.Figure()
    for name in order:
        part = frame[frame[column] == name]
        if part.empty:
            continue
        custom, template = _hover(part, hover)
        fig.add_trace(
            go.Scattermap(
                lon=part["lon"],
                lat=part["lat"],
                mode="markers",
                marker={"size": 9, "color": colors[name]},
                name=name,
                customdata=custom,
                hovertemplate=f"<b>{name}</b><br>{template}<extra></extra>",
            )
        )
    return _map_layout(fig, bounds_of(frame), basemap, title=title, legend_title=legend_title, view=view)


# --------------------------------------------------------------------------------------------- charts
def class_balance(
    counts: Mapping[str, Mapping[str, int]], *, title: str | None = None, ordered: bool = True
) -> go.Figure:
    """Labelled tiles per class, one bar group per target (``TaskData.class_counts()``); unordered classes get
    categorical colours (``ordered=False``)."""
    fig = go.Figure()
    targets = list(counts)
    classes: list[str] = []
    for per in counts.values():
        classes += [c for c in per if c not in classes]
    colors = class_colors(classes, ordered=ordered)
    for c in classes:
        fig.add_trace(
            go.Bar(
                x=targets,
                y=[counts[t].get(c, 0) for t in targets],
                name=str(c),
                marker_color=colors[c],
                text=[counts[t].get(c, 0) for t in targets],
                textposition="auto",
            )
        )
    fig.update_layout(
        barmode="group",
        height=320,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        title={"text": title} if title else None,
        yaxis_title="labelled tiles",
        legend_title_text="class",
    )
    return fig


def _history_steps(history: pd.DataFrame) -> pd.DataFrame:
    h = history.copy()
    h["fold"] = h["fold"].astype(str)
    h["step"] = h.groupby("fold").cumcount() + 1
    return h


def learning_curves(history: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Loss and accuracy per epoch: one colour per fold (``all`` = the refit), solid = training, dashed = validation.

    Epochs count on through the phases of a fold (head epochs, then fine-tuning); hover names the phase.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "accuracy"), horizontal_spacing=0.08)
    if history is None or history.empty:
        fig.add_annotation(
            text="No epochs: this strategy fits its classifier in one step (features_linear)",
            xref="paper",
            yref="paper",
            x=0.5,
            y=0.5,
            showarrow=False,
        )
        fig.update_layout(height=320, title={"text": title} if title else None)
        return fig
    h = _history_steps(history)
    for i, (fold, part) in enumerate(h.groupby("fold", sort=False)):
        color = QUALITATIVE[i % len(QUALITATIVE)]
        name = "refit (all tiles)" if fold == "all" else f"fold {fold}"
        for col, metric in ((1, "loss"), (2, "accuracy")):
            for prefix, dash in (("", "solid"), ("val_", "dash")):
                key = f"{prefix}{metric}"
                if key not in part or part[key].isna().all():
                    continue
                fig.add_trace(
                    go.Scatter(
                        x=part["step"],
                        y=part[key],
                        mode="lines+markers" if len(part) < 15 else "lines",
                        line={"color": color, "dash": dash},
                        marker={"size": 5},
                        name=f"{name} · {'validation' if prefix else 'training'}",
                        legendgroup=name,
                        showlegend=col == 1,
                        customdata=part[["phase", "epoch"]].to_numpy(dtype=object),
                        hovertemplate=f"{name} {key}: %{{y:.3f}}<br>%{{customdata[0]}} epoch %{{customdata[1]}}<extra></extra>",
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="epoch (head, then fine-tuning)")
    if h["step"].max() <= 12:
        fig.update_xaxes(dtick=1)
    fig.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        title={"text": title} if title else None,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def compare_curves(
    histories: Mapping[str, pd.DataFrame], *, metric: str = "val_loss", title: str | None = None
) -> go.Figure:
    """One line per strategy: ``metric`` per epoch, averaged over cross-validation folds (band = min–max)."""
    fig = go.Figure()
    for i, (strategy, hist) in enumerate(histories.items()):
        if hist is None or hist.empty or metric not in hist:
            continue
        h = _history_steps(hist)
        h = h[h["fold"] != "all"]
        g = h.groupby("step")[metric].agg(["mean", "min", "max"]).reset_index()
        color = QUALITATIVE[i % len(QUALITATIVE)]
        fig.add_trace(
            go.Scatter(
                x=list(g["step"]) + list(g["step"][::-1]),
                y=list(g["max"]) + list(g["min"][::-1]),
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=strategy,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=g["step"],
                y=g["mean"],
                mode="lines+markers" if len(g) < 15 else "lines",
                name=strategy,
                line={"color": color, "width": 2},
                legendgroup=strategy,
                hovertemplate=f"{strategy} {metric}: %{{y:.3f}} (epoch %{{x}})<extra></extra>",
            )
        )
    if 0 < max((max(t.x) for t in fig.data if t.x is not None and len(t.x)), default=0) <= 12:
        fig.update_xaxes(dtick=1)
    fig.update_layout(
        height=340,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title or f"{metric} per epoch (mean over folds)"},
        xaxis_title="epoch (head, then fine-tuning)",
        yaxis_title=metric,
        legend_title_text="strategy",
    )
    return fig


def comparison_bars(
    table: pd.DataFrame,
    metrics: Sequence[str] = ("accuracy", "balanced_accuracy", "macro_f1", "within_one"),
    *,
    title: str | None = None,
) -> go.Figure:
    """Mean ± sd over folds of each metric, one bar per strategy (``tlgeo.train.comparison_table``)."""
    fig = go.Figure()
    metrics = [m for m in metrics if m in table]
    for i, row in enumerate(table.itertuples(index=False)):
        r = row._asdict()
        fig.add_trace(
            go.Bar(
                x=list(metrics),
                y=[r[m] for m in metrics],
                error_y={"type": "data", "array": [r.get(f"{m}_sd", 0) or 0 for m in metrics], "visible": True},
                name=str(r["strategy"]),
                marker_color=QUALITATIVE[i % len(QUALITATIVE)],
                hovertemplate=f"{r['strategy']}<br>%{{x}}: %{{y:.3f}} ± %{{error_y.array:.3f}}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=360,
        yaxis={"range": [0, 1.05], "title": "mean over folds (± sd)"},
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title or "Held-out metrics on the same spatial folds"},
        legend_title_text="strategy",
    )
    return fig


def confusion_figure(
    confusion: Sequence[Sequence[int]], classes: Sequence[str], *, normalize: bool = True, title: str | None = None
) -> go.Figure:
    """Confusion matrix heatmap (rows = truth, columns = prediction); cells show counts and row shares."""
    cm = np.asarray(confusion, dtype="float64")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    z = share if normalize else cm
    text = [[f"{int(cm[i, j])}<br>{share[i, j]:.0%}" for j in range(cm.shape[1])] for i in range(cm.shape[0])]
    labels = [str(c) for c in classes]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            text=text,
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1 if normalize else None,
            colorbar={"title": {"text": "share of row" if normalize else "tiles"}},
            hovertemplate="truth %{y} → predicted %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title or "Confusion matrix (out-of-fold)"},
        xaxis={"title": "predicted", "side": "bottom"},
        yaxis={"title": "truth", "autorange": "reversed"},
    )
    return fig


def reliability_figure(
    before: pd.DataFrame,
    after: pd.DataFrame,
    ece_before: float,
    ece_after: float,
    temperature: float,
    *,
    title: str | None = None,
) -> go.Figure:
    """Reliability diagram: accuracy against confidence per bin (``tlgeo.calibration.reliability``), before and
    after temperature scaling; marker size follows the tiles in the bin; the diagonal is perfect calibration."""
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot", "color": "#888"}, name="perfect", hoverinfo="skip"
        )
    )
    for table, name, color in (
        (before, f"model (ECE {ece_before:.3f})", WRONG_COLOR),
        (after, f"temperature {temperature:.2f} (ECE {ece_after:.3f})", CORRECT_COLOR),
    ):
        if table is None or table.empty:
            continue
        size = 6 + 18 * np.sqrt(table["n"] / max(table["n"].max(), 1))
        fig.add_trace(
            go.Scatter(
                x=table["confidence"],
                y=table["accuracy"],
                mode="lines+markers",
                marker={"size": size, "color": color},
                line={"color": color},
                name=name,
                customdata=table[["n"]].to_numpy(),
                hovertemplate="confidence %{x:.2f}<br>accuracy %{y:.2f}<br>%{customdata[0]} tiles<extra></extra>",
            )
        )
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": title or "Reliability (out-of-fold)"},
        xaxis={"title": "confidence (top probability)", "range": [0, 1.02]},
        yaxis={"title": "accuracy", "range": [0, 1.02]},
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)"},
    )
    return fig
