"""Figure builders: the right traces, offline map style, centre inside the data, legends naming the classes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from shapely.geometry import LineString, Point, box

from tlgeo import viz
from tlgeo.errors import ConfigError

CLASSES = ["good", "fair", "poor"]


def _tiles(n: int = 4, crs: str = "EPSG:32737") -> gpd.GeoDataFrame:
    """n × n tiles of 64 m near Nairobi (UTM 37S), classes cycling, one unlabelled."""
    x0, y0 = 257000.0, 9858000.0
    rows = []
    for r in range(n):
        for c in range(n):
            k = (r + c) % 3
            rows.append(
                {
                    "tile_id": f"s_r{r:03d}_c{c:03d}",
                    "source": "s" if c < n // 2 else "t",
                    "quality": -1 if (r, c) == (0, 0) else k,
                    "label": None if (r, c) == (0, 0) else CLASSES[k],
                    "class_index": k,
                    **{f"prob_{name}": float(j == k) * 0.8 + 0.1 for j, name in enumerate(CLASSES)},
                    "fold": (r * n + c) % 2,
                    "geometry": box(x0 + 64 * c, y0 - 64 * (r + 1), x0 + 64 * (c + 1), y0 - 64 * r),
                }
            )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def _inside(fig: go.Figure, bounds) -> None:
    center = fig.layout.map.center
    west, south, east, north = bounds
    assert west <= center.lon <= east and south <= center.lat <= north
    assert 0 < fig.layout.map.zoom <= 18


def _legend(fig: go.Figure) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False and t.name]


def test_map_view_fits_bounds():
    center, zoom = viz.map_view((36.70, -1.40, 36.75, -1.35))
    assert center == pytest.approx({"lon": 36.725, "lat": -1.375})
    assert 11 < zoom < 15
    _, wide = viz.map_view((30.0, -5.0, 40.0, 5.0))
    assert wide < zoom


def test_tiles_map_is_offline_centred_and_names_classes():
    tiles = _tiles()
    fig = viz.tiles_map(tiles, "quality", CLASSES, hover=("tile_id", "prob_good"))
    assert fig.layout.map.style == "white-bg"
    assert all(isinstance(t, go.Choroplethmap) for t in fig.data)
    assert _legend(fig) == [*CLASSES, "unlabelled"]
    assert [t.marker.line.color for t in fig.data] and fig.data[0].colorscale[0][1] == viz.CLASS_COLORS["good"]
    _inside(fig, tiles.to_crs(4326).total_bounds)
    # every tile lands in exactly one trace, with its own footprint
    assert sum(len(t.locations) for t in fig.data) == len(tiles)
    assert "prob_good" in fig.data[0].hovertemplate


def test_basemap_option_and_bad_name():
    fig = viz.tiles_map(_tiles(), "quality", CLASSES, basemap="open-street-map")
    assert fig.layout.map.style == "open-street-map"
    with pytest.raises(ConfigError, match="Unknown basemap 'carto-positron'"):
        viz.tiles_map(_tiles(), "quality", CLASSES, basemap="carto-positron")


def test_view_centres_on_part_of_the_data():
    tiles = _tiles()
    part = tuple(tiles[tiles["source"] == "s"].to_crs(4326).total_bounds)
    fig = viz.tiles_map(tiles, "quality", CLASSES, view=part)
    _inside(fig, part)


def test_scene_outlines_and_footprints_map():
    tiles = _tiles()
    outlines = viz.scene_outlines(tiles)
    assert list(outlines["source"]) == ["s", "t"] and outlines.crs.to_epsg() == 4326
    fig = viz.footprints_map(outlines)
    assert fig.layout.map.style == "white-bg" and fig.data[0].mode == "lines"
    assert {t for t in fig.data[0].text if t} == {"s", "t"}
    _inside(fig, outlines.total_bounds)


def test_predictions_map_single_and_multi_target():
    tiles = _tiles()
    tiles["label"] = tiles["label"].fillna("good")
    fig = viz.predictions_map(tiles, CLASSES)
    assert _legend(fig) == CLASSES
    assert all(f"prob_{c}" in fig.data[0].hovertemplate for c in CLASSES)
    multi = tiles.rename(columns={"label": "BF_label", **{f"prob_{c}": f"BF_prob_{c}" for c in CLASSES}})
    fig = viz.predictions_map(multi, CLASSES, target="BF")
    assert _legend(fig) == CLASSES and "BF_prob_poor" in fig.data[0].hovertemplate


def test_segments_map_by_class_and_by_roughness():
    lines = gpd.GeoDataFrame(
        {
            "segment_id": ["a", "b", "c", "d"],
            "label": ["good", "poor", None, "fair"],
            "roughness": [1.0, 9.0, np.nan, 4.0],
        },
        geometry=[LineString([(36.70 + i * 0.01, -1.30), (36.705 + i * 0.01, -1.31)]) for i in range(4)],
        crs=4326,
    )
    fig = viz.segments_map(
        lines, footprints=gpd.GeoDataFrame({"source": ["s"]}, geometry=[box(36.69, -1.32, 36.75, -1.29)], crs=4326)
    )
    assert all(isinstance(t, go.Scattermap) and t.mode == "lines" for t in fig.data)
    assert _legend(fig) == ["scene footprint", *CLASSES, "unclassified"]
    _inside(fig, lines.total_bounds)
    fig = viz.segments_map(lines, color="roughness", n_bins=3)
    assert "no value" in _legend(fig) and len(fig.data) >= 3


def test_road_predictions_map_draws_lines_by_class():
    roads = gpd.GeoDataFrame(
        {"label": ["good", "poor"], "prob_good": [0.8, 0.1], "prob_fair": [0.1, 0.1], "prob_poor": [0.1, 0.8]},
        geometry=[LineString([(36.7, -1.3), (36.71, -1.3)]), LineString([(36.71, -1.3), (36.72, -1.31)])],
        crs=4326,
    )
    fig = viz.road_predictions_map(roads, CLASSES)
    assert [t.name for t in fig.data] == ["good", "poor"]
    assert fig.data[1].line.color == viz.CLASS_COLORS["poor"]
    assert "prob_poor" in next(t for t in fig.data[1].text if t)


def test_villages_map_points_and_polygons():
    pts = gpd.GeoDataFrame(
        {"village_id": ["v1", "v2", "v3"], "BF": [0, 2, np.nan]},
        geometry=[Point(85.3, 26.1), Point(85.31, 26.12), Point(85.32, 26.11)],
        crs=4326,
    )
    fig = viz.villages_map(pts, "BF", ["0", "1", "2"])
    assert all(isinstance(t, go.Scattermap) for t in fig.data)
    assert _legend(fig) == ["0", "2", "missing"]
    polys = pts.copy()
    polys["geometry"] = pts.to_crs(32645).buffer(300).to_crs(4326)
    fig = viz.villages_map(polys, "BF", ["0", "1", "2"])
    assert all(isinstance(t, go.Choroplethmap) for t in fig.data)
    _inside(fig, polys.total_bounds)


def test_folds_and_errors_maps_accept_polygons_or_points():
    tiles = _tiles()
    fig = viz.folds_map(tiles)
    assert _legend(fig) == ["fold 0", "fold 1"]
    points = pd.DataFrame(
        {"tile_id": ["a", "b", "c"], "fold": [0, 1, 1], "lon": [36.7, 36.71, 36.72], "lat": [-1.3, -1.3, -1.31]}
    )
    fig = viz.folds_map(points)
    assert all(isinstance(t, go.Scattermap) for t in fig.data)
    _inside(fig, (36.7, -1.31, 36.72, -1.3))
    tiles["true_label"] = tiles["label"].fillna("good")
    tiles["pred_label"] = np.where(tiles["fold"] == 0, tiles["true_label"], "poor")
    fig = viz.errors_map(tiles)
    assert _legend(fig) == ["correct", "wrong"]


def test_charts():
    hist = pd.DataFrame(
        {
            "fold": [0, 0, 0, 1, 1, "all"],
            "phase": ["head", "head", "fine_tune", "head", "head", "head"],
            "epoch": [1, 2, 1, 1, 2, 1],
            "loss": [1.0, 0.8, 0.7, 1.1, 0.9, 1.0],
            "accuracy": [0.4, 0.5, 0.6, 0.4, 0.5, 0.4],
            "val_loss": [1.1, 0.9, 0.8, 1.2, 1.0, np.nan],
            "val_accuracy": [0.3, 0.4, 0.5, 0.3, 0.4, np.nan],
        }
    )
    fig = viz.learning_curves(hist)
    names = {t.name for t in fig.data}
    assert {"fold 0 · training", "fold 0 · validation", "refit (all tiles) · training"} <= names
    assert max(fig.data[0].x) == 3  # head then fine-tune epochs count on
    table = pd.DataFrame(
        {
            "strategy": ["scratch", "frozen_head"],
            "accuracy": [0.5, 0.8],
            "accuracy_sd": [0.1, 0.05],
            "macro_f1": [0.4, 0.7],
            "macro_f1_sd": [0.1, 0.1],
        }
    )
    bars = viz.comparison_bars(table)
    assert [t.name for t in bars.data] == ["scratch", "frozen_head"]
    assert list(bars.data[1].error_y.array) == [0.05, 0.1]
    curves = viz.compare_curves({"scratch": hist, "frozen_head": hist})
    assert {t.name for t in curves.data if t.showlegend is not False} == {"scratch", "frozen_head"}
    cm = viz.confusion_figure([[5, 1, 0], [2, 6, 2], [0, 1, 3]], CLASSES)
    assert list(cm.data[0].x) == CLASSES and cm.data[0].z[1][1] == pytest.approx(0.6)
    balance = viz.class_balance({"quality": {"good": 3, "fair": 2, "poor": 1}})
    assert [t.name for t in balance.data] == CLASSES


def test_class_colors():
    assert viz.class_colors(CLASSES) == {c: viz.CLASS_COLORS[c] for c in CLASSES}
    levels = viz.class_colors(["0", "1", "2"])
    assert len(set(levels.values())) == 3


def test_segments_map_draws_the_road_network_below_the_tracks():
    import geopandas as gpd
    from shapely.geometry import LineString

    from tlgeo import viz

    seg = gpd.GeoDataFrame(
        {"label": ["good", "poor"], "roughness": [1.0, 9.0]},
        geometry=[LineString([(36.80, -1.30), (36.801, -1.30)]), LineString([(36.801, -1.30), (36.802, -1.301)])],
        crs=4326,
    )
    net = gpd.GeoDataFrame({"road_id": ["r1"]}, geometry=[LineString([(36.80, -1.302), (36.803, -1.302)])], crs=4326)
    fig = viz.segments_map(seg, network=net)
    names = [t.name for t in fig.data]
    assert names[0] == "road network (roads.geojson)"
    assert {"good", "poor"} <= set(names)
