"""Road networks (e.g. OpenStreetMap lines, the sample's roads.geojson): read, attached to tasks, used by predict."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point

from tlgeo.errors import GeoreferenceError, LabelError
from tlgeo.labels.roads import find_road_network, read_road_network


def test_read_road_network_reprojects_and_keeps_columns(tmp_path):
    lines = gpd.GeoDataFrame(
        {"road_id": ["a", "b"], "highway": ["primary", "track"]},
        geometry=[
            LineString([(257000, 9858000), (257100, 9858050)]),
            LineString([(257000, 9858100), (257050, 9858200)]),
        ],
        crs="EPSG:32737",
    )
    lines.to_file(tmp_path / "roads.gpkg")
    assert find_road_network(tmp_path) == tmp_path / "roads.gpkg"
    net = read_road_network(tmp_path / "roads.gpkg")
    assert net.crs.to_epsg() == 4326 and list(net["road_id"]) == ["a", "b"]
    assert set(net.geom_type) == {"LineString"}


def test_bad_road_networks(tmp_path):
    pts = gpd.GeoDataFrame({"id": [1]}, geometry=[Point(36.8, -1.3)], crs=4326)
    pts.to_file(tmp_path / "points.geojson")
    with pytest.raises(LabelError, match="no LineString"):
        read_road_network(tmp_path / "points.geojson")
    nocrs = gpd.GeoDataFrame({"id": [1]}, geometry=[LineString([(0, 0), (1, 1)])])
    nocrs.to_file(tmp_path / "nocrs.gpkg")
    with pytest.raises(GeoreferenceError, match="no CRS"):
        read_road_network(tmp_path / "nocrs.gpkg")
    assert find_road_network(tmp_path) is None


def test_sample_task_has_a_network_with_undriven_roads():
    from tests.conftest import SAMPLE
    from tlgeo.tasks import load_task

    data = load_task(SAMPLE / "roads")
    assert data.network is not None and len(data.network) >= 15
    truth = gpd.read_file(SAMPLE / "roads" / "truth" / "roads_truth.geojson")
    undriven = set(truth.loc[~truth["driven"].astype(bool), "road_id"])
    assert undriven and undriven <= set(data.network["road_id"])
    assert "surface" not in data.network.columns and "driven" not in data.network.columns
