"""Figures and map layers of continuous targets (task ``values``, continuous village fractions): tiles or points on a
continuous colour scale, predicted against observed, and the ``value`` band of a prediction GeoTIFF as an image
layer. Data in, ``go.Figure`` (or a layer dict) out; no Keras, no Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tlgeo.errors import RasterError
from tlgeo.viz.base import VALUE_SCALE, _geojson, _hover, _map_layout, _outline_trace, bounds_of, to_lonlat

#: Diverging scale of residuals (prediction − truth): blue under, red over, white at zero.
RESIDUAL_SCALE = "RdBu_r"


def value_range(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """(low, high) of the finite values for a colour scale (a constant or empty set gets a unit-wide range)."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if not v.size:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    return (lo - 0.5, hi + 0.5) if hi <= lo else (lo, hi)


def values_map(
    frame: gpd.GeoDataFrame | pd.DataFrame,
    column: str,
    *,
    hover: Sequence[str] = ("tile_id",),
    colorscale: str = VALUE_SCALE,
    zrange: tuple[float, float] | None = None,
    diverging: bool = False,
    footprints: gpd.GeoDataFrame | None = None,
    basemap: str = "white-bg",
    view: Sequence[float] | None = None,
    title: str | None = None,
    colorbar_title: str | None = None,
) -> go.Figure:
    """Tiles (polygons of a GeoDataFrame) or tile centres (``lon``/``lat`` columns) coloured by a numeric column on a
    continuous scale with a colour bar; tiles without a value are left out.

    Args:
        frame: Tile footprints (any CRS) or a table with ``lon``/``lat``.
        column: The numeric column.
        hover: Columns shown on hover (the value always is).
        colorscale: A plotly colour scale (default: :data:`tlgeo.viz.VALUE_SCALE`).
        zrange: (low, high) of the scale (default: the values' range; symmetric around 0 with ``diverging``).
        diverging: Centre the scale on 0 (residuals).
        footprints: Scene outlines drawn on top.
        basemap: ``"white-bg"`` (offline) or ``"open-street-map"``.
        view: Bounds (west, south, east, north) to centre on.
        title: Figure title.
        colorbar_title: Colour bar heading (default: ``column``).
    """
    polygons = isinstance(frame, gpd.GeoDataFrame)
    t = to_lonlat(frame).reset_index(drop=True) if polygons else frame.reset_index(drop=True)
    values = pd.to_numeric(t[column], errors="coerce")
    keep = values.notna().to_numpy()
    t, values = t[keep].reset_index(drop=True), values[keep].reset_index(drop=True)
    if zrange is None:
        lo, hi = value_range(values)
        if diverging:
            m = max(abs(lo), abs(hi))
            lo, hi = -m, m
    else:
        lo, hi = zrange
    cols = [*[c for c in hover if c != column], column]  # the tile id first: clicks read customdata[0]
    custom, template = _hover(t, cols)
    bar = {"title": {"text": colorbar_title or column}}
    fig = go.Figure()
    if polygons:
        fig.add_trace(
            go.Choroplethmap(
                geojson=_geojson(t),
                locations=[str(i) for i in range(len(t))],
                featureidkey="id",
                z=values.to_numpy(dtype="float64"),
                zmin=lo,
                zmax=hi,
                colorscale=colorscale,
                colorbar=bar,
                marker={"opacity": 0.75, "line": {"width": 0.5, "color": "white"}},
                name=column,
                showlegend=False,
                customdata=custom,
                hovertemplate=f"{template}<extra></extra>",
            )
        )
    else:
        fig.add_trace(
            go.Scattermap(
                lon=t["lon"],
                lat=t["lat"],
                mode="markers",
                marker={"size": 9, "color": values, "cmin": lo, "cmax": hi, "colorscale": colorscale, "colorbar": bar},
                name=column,
                showlegend=False,
                customdata=custom,
                hovertemplate=f"{template}<extra></extra>",
            )
        )
    if footprints is not None and len(footprints):
        fig.add_trace(_outline_trace(to_lonlat(footprints)))
    return _map_layout(fig, bounds_of(t, footprints), basemap, title=title, view=view)


def observed_predicted_figure(
    true: Sequence[float],
    pred: Sequence[float],
    *,
    fold: Sequence[int] | None = None,
    target: str = "value",
    title: str | None = None,
) -> go.Figure:
    """Out-of-fold predictions against the observed values (one colour per test fold) with the 1:1 line.

    Args:
        true: Observed values (``NaN`` = unlabelled, left out).
        pred: Predicted values.
        fold: Test fold of each tile (colours), or ``None``.
        target: Target name (axis titles).
        title: Figure title.
    """
    from tlgeo.viz import QUALITATIVE

    y = np.asarray(true, dtype="float64")
    p = np.asarray(pred, dtype="float64")
    ok = np.isfinite(y) & np.isfinite(p)
    folds = np.asarray(fold)[ok] if fold is not None else np.zeros(ok.sum(), dtype=int)
    y, p = y[ok], p[ok]
    fig = go.Figure()
    for i, f in enumerate(sorted(pd.unique(folds))):
        sel = folds == f
        fig.add_trace(
            go.Scatter(
                x=y[sel],
                y=p[sel],
                mode="markers",
                marker={"size": 7, "opacity": 0.75, "color": QUALITATIVE[i % len(QUALITATIVE)]},
                name=f"fold {f}" if fold is not None else "tiles",
                hovertemplate=f"observed %{{x:.4g}}<br>predicted %{{y:.4g}}<extra>fold {f}</extra>",
            )
        )
    lo, hi = value_range(np.concatenate([y, p]))
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"color": "#555", "dash": "dash"}, name="1:1"))
    fig.update_layout(
        title={"text": title} if title else None,
        xaxis={"title": {"text": f"observed {target}"}, "range": [lo, hi]},
        yaxis={"title": {"text": f"predicted {target} (out of fold)"}, "range": [lo, hi], "scaleanchor": "x"},
        height=440,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
    )
    return fig


def value_histogram(values: dict[str, np.ndarray], *, bins: int = 30) -> go.Figure:
    """Distribution of each continuous target's labelled values (one histogram per target, NaN left out)."""
    fig = go.Figure()
    for name, v in values.items():
        v = np.asarray(v, dtype="float64")
        fig.add_trace(go.Histogram(x=v[np.isfinite(v)], name=str(name), nbinsx=bins, opacity=0.75))
    fig.update_layout(
        barmode="overlay",
        height=320,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis_title="value",
        yaxis_title="labelled samples",
        showlegend=len(values) > 1,
    )
    return fig


def value_band_name(target: str | None = None) -> str:
    """The band description of a continuous target in a prediction GeoTIFF (``value`` or ``<target>_value``)."""
    return f"{target}_value" if target else "value"


def value_layer(
    source: str | Path | bytes,
    *,
    target: str | None = None,
    zrange: tuple[float, float] | None = None,
    opacity: float = 0.65,
    max_px: int = 2048,
) -> tuple[dict, tuple[float, float]]:
    """The ``value`` band of a prediction GeoTIFF as a map image layer on :data:`tlgeo.viz.VALUE_SCALE`.

    Args:
        source: The GeoTIFF (path or bytes).
        target: Target of a multi-task run (band ``<target>_value``); ``None`` for one target.
        zrange: (low, high) of the colour scale (default: the band's valid range).
        opacity: Layer opacity.
        max_px: Longest edge of the image (decimated read).

    Returns:
        ``(layer, (low, high))``: the layer dict (cells no window covered, nodata, transparent) and the range drawn.

    Raises:
        RasterError: The GeoTIFF has no such band.
    """
    import rasterio
    from plotly.colors import sample_colorscale, unlabel_rgb
    from rasterio.io import MemoryFile

    from tlgeo.overview import array_layer, pixel_corners_lonlat

    name = value_band_name(target)
    mem = MemoryFile(source) if isinstance(source, bytes) else None
    try:
        with mem.open() if mem is not None else rasterio.open(source) as ds:
            names = list(ds.descriptions)
            if name not in names:
                raise RasterError(
                    f"The GeoTIFF has no band {name!r} (bands: {', '.join(str(n) for n in names)})",
                    hint="Draw a prediction GeoTIFF of a values run written by tlgeo.",
                )
            scale = max(ds.width, ds.height) / max_px
            shape = (max(1, round(ds.height / max(scale, 1))), max(1, round(ds.width / max(scale, 1))))
            corners = pixel_corners_lonlat(ds.transform, ds.crs, ds.width, ds.height)
            band = ds.read(names.index(name) + 1, out_shape=shape).astype("float64")
            nodata = ds.nodata if ds.nodata is not None else -1.0
    finally:
        if mem is not None:
            mem.close()
    valid = (band != nodata) & np.isfinite(band)
    lo, hi = zrange if zrange is not None else value_range(band[valid])
    lut = np.array([unlabel_rgb(c) for c in sample_colorscale(VALUE_SCALE, list(np.linspace(0, 1, 256)))])
    idx = np.rint(np.clip((band - lo) / max(hi - lo, 1e-12), 0, 1) * 255).astype(int)
    rgba = np.zeros((*shape, 4), dtype=np.uint8)
    rgba[..., :3] = np.rint(lut[idx]).astype(np.uint8)
    rgba[..., 3] = np.where(valid, 255, 0)
    return array_layer(rgba, corners, opacity=opacity), (float(lo), float(hi))
