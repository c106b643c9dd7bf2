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

from tlgeo.viz.base import (
    BASEMAPS,
    CLASS_COLORS,
    CORRECT_COLOR,
    LEVEL_COLORS,
    MISSING_COLOR,
    QUALITATIVE,
    ROUGHNESS_SCALE,
    VALUE_SCALE,
    WRONG_COLOR,
    add_map_layers,
    bounds_of,
    check_basemap,
    class_colors,
    map_view,
    scene_outlines,
    to_lonlat,
)
from tlgeo.viz.charts import (
    class_balance,
    compare_curves,
    comparison_bars,
    confusion_figure,
    learning_curves,
    reliability_figure,
)
from tlgeo.viz.data_maps import footprints_map, labels_map, segments_map, tiles_map, villages_map
from tlgeo.viz.result_maps import errors_map, folds_map, predictions_map, road_predictions_map

__all__ = [
    "BASEMAPS",
    "CLASS_COLORS",
    "CORRECT_COLOR",
    "LEVEL_COLORS",
    "MISSING_COLOR",
    "QUALITATIVE",
    "ROUGHNESS_SCALE",
    "VALUE_SCALE",
    "WRONG_COLOR",
    "add_map_layers",
    "bounds_of",
    "check_basemap",
    "class_balance",
    "class_colors",
    "compare_curves",
    "comparison_bars",
    "confusion_figure",
    "errors_map",
    "folds_map",
    "footprints_map",
    "labels_map",
    "learning_curves",
    "map_view",
    "predictions_map",
    "reliability_figure",
    "road_predictions_map",
    "scene_outlines",
    "segments_map",
    "tiles_map",
    "to_lonlat",
    "villages_map",
]
