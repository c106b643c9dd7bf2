"""Maps of the inputs: scene footprints, tiles, road segments, villages, labels of any vector file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tlgeo.viz.base import (
    MISSING_COLOR,
    ROUGHNESS_SCALE,
    VALUE_SCALE,
    _category_series,
    _hover,
    _lines_trace,
    _map_layout,
    _outline_trace,
    _polygon_layers,
    bounds_of,
    class_colors,
    to_lonlat,
)


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
