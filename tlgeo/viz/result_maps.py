"""Maps of results: predictions (tiles and along roads), spatial folds, errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tlgeo.schema import PROB, target_prefix
from tlgeo.viz.base import (
    CORRECT_COLOR,
    MISSING_COLOR,
    QUALITATIVE,
    WRONG_COLOR,
    _category_series,
    _hover,
    _lines_trace,
    _map_layout,
    _outline_trace,
    bounds_of,
    class_colors,
    to_lonlat,
)
from tlgeo.viz.data_maps import tiles_map


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
    prefix = target_prefix(target)
    label_col = f"{prefix}label"
    probs = [f"{prefix}{PROB}{c}" for c in classes]
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
    cols = [c for c in ("road_id", "segment_id", "tile_id", *[f"{PROB}{k}" for k in classes]) if c in r]
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
