"""tlgeo.schema: every output column name, tile id, source name and footprint comes from one place."""

from __future__ import annotations

import numpy as np
from rasterio.transform import Affine

from tests.conftest import write_geotiff
from tlgeo.schema import (
    chip_id,
    class_of_prob_column,
    column_prefix,
    prob_column,
    prob_columns,
    source_names,
    target_column,
    tile_id,
)
from tlgeo.tiles import tile_index


def test_column_names_single_and_multi_task():
    one = {"quality": ["good", "fair", "poor"]}
    many = {"BF": ["0", "1", "2"], "share": []}
    assert prob_columns(one, "quality") == ["prob_good", "prob_fair", "prob_poor"]
    assert prob_columns(many, "BF") == ["BF_prob_0", "BF_prob_1", "BF_prob_2"]
    assert target_column(one, "quality", "class_index") == "class_index"
    assert target_column(many, "share", "value") == "share_value"
    assert column_prefix(2, "BF") == "BF_" and column_prefix(1, "BF") == ""
    assert class_of_prob_column(prob_column(many, "BF", "1")) == "1"
    assert class_of_prob_column("prob_very_poor") == "very_poor"


def test_tile_ids_and_source_names(tmp_path):
    assert tile_id("scene", 3, 12) == "scene_r003_c012"
    assert chip_id("scene", "17") == "scene_17" and chip_id("scene", "17", 2) == "scene_17_g2"
    names = source_names([tmp_path / "a" / "x.tif", tmp_path / "b" / "x.tif", tmp_path / "b" / "y.tif"])
    assert names == ["a_x", "b_x", "y"]


def test_tile_index_of_a_rotated_scene_uses_the_true_footprints(tmp_path):
    """A rotated raster's windows are parallelograms (all four corners transformed), ids follow the schema."""
    rotated = Affine(0.8, 0.6, 257000.0, 0.6, -0.8, 9858000.0)  # 1 m pixels, turned by ~37°
    data = np.random.default_rng(5).integers(1, 255, (3, 40, 48), dtype=np.uint8)
    for folder in ("north", "south"):
        (tmp_path / folder).mkdir()
        write_geotiff(tmp_path / folder / "scene.tif", data, transform=rotated)
    index = tile_index([tmp_path / "north" / "scene.tif", tmp_path / "south" / "scene.tif"], size=16)
    assert len(index) == 2 * 3 * 3  # the last window row ends at the scene edge (40 px = 16 + 16 + 8)
    first = index.iloc[0]
    assert first["tile_id"] == "north_scene_r000_c000" and first["source"] == "north_scene"
    co, ro, w, h = first["window"]
    corners = [rotated * xy for xy in ((co, ro), (co + w, ro), (co + w, ro + h), (co, ro + h))]
    np.testing.assert_allclose(np.asarray(first.geometry.exterior.coords)[:4], corners, atol=1e-6)
    assert abs(first.geometry.area - 16 * 16) < 1e-6  # a box of two corners would be twice as large here
    assert first.geometry.area < 0.99 * first.geometry.envelope.area
