"""Writers of download files: prediction GeoTIFF and CSV (frames built in code; no model needed)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine
from rasterio.warp import transform_bounds
from shapely.geometry import box

from tests.conftest import ROOT, write_geotiff
from tlgeo.errors import ConfigError, OutputExistsError
from tlgeo.export import (
    PREDICTION_NODATA,
    csv_writer,
    geojson_writer,
    predictions_csv_bytes,
    window_owner,
    write_geojson,
    write_prediction_geotiff,
)
from tlgeo.tiles import raster_info, scene_windows

CLASSES = ["good", "fair", "poor"]


def fake_predictions(scene, size=32, stride=None, targets=None, seed=0, drop=()) -> gpd.GeoDataFrame:
    """A predictions frame with the layout of tlgeo.predict for the windows of ``scene`` (random probabilities)."""
    targets = targets or {"quality": CLASSES}
    info = raster_info(scene)
    rng = np.random.default_rng(seed)
    rows = []
    for r, c, co, ro, w, h in scene_windows(info, size, stride):
        if (r, c) in drop:
            continue
        t = rasterio.windows.transform(rasterio.windows.Window(co, ro, w, h), info.transform)
        x0, y0 = t * (0, 0)
        x1, y1 = t * (w, h)
        row = {"tile_id": f"{scene.stem}_r{r:03d}_c{c:03d}", "source": scene.stem, "row": r, "col": c}
        row["window"] = (co, ro, w, h)
        for target, classes in targets.items():
            pre = "" if len(targets) == 1 else f"{target}_"
            p = rng.dirichlet(np.ones(len(classes)))
            row[f"{pre}label"] = classes[int(p.argmax())]
            row[f"{pre}class_index"] = int(p.argmax())
            for k, name in enumerate(classes):
                row[f"{pre}prob_{name}"] = float(p[k])
        row.update(
            run_id="run-x", backbone="tiny_cnn", geometry=box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        )
        rows.append(row)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=info.crs)


def test_geotiff_has_the_scene_crs_transform_and_named_bands(rgb_scene, tmp_path):
    preds = fake_predictions(rgb_scene, drop={(0, 0)})
    out = write_prediction_geotiff(preds, rgb_scene, tmp_path / "p.tif")
    with rasterio.open(out) as ds, rasterio.open(rgb_scene) as scene:
        assert ds.crs == scene.crs
        assert ds.transform == scene.transform * Affine.scale(32)
        assert (ds.width, ds.height) == (5, 4)  # ceil(130 / 32), ceil(100 / 32)
        assert ds.count == 4 and set(ds.dtypes) == {"float32"}
        assert ds.nodatavals == (PREDICTION_NODATA,) * 4
        assert ds.descriptions == ("class_index", "prob_good", "prob_fair", "prob_poor")
        assert ds.tags(1)["classes"] == "0=good,1=fair,2=poor"
        assert ds.tags()["run_id"] == "run-x"
        assert ds.profile["tiled"] and ds.profile["compress"] == "deflate"
        data = ds.read()
    valid = data[0] != PREDICTION_NODATA
    assert not valid[0, 0] and valid.sum() == 19  # the dropped window is nodata
    np.testing.assert_array_equal(data[0][valid], data[1:].argmax(axis=0)[valid])
    np.testing.assert_allclose(data[1:].sum(axis=0)[valid], 1.0, atol=1e-6)
    assert (data[:, ~valid] == PREDICTION_NODATA).all()
    # each pixel holds its window: the last column is the window shifted to end at the scene edge (col_off 98)
    by_window = preds.set_index(preds["window"].map(lambda w: (w[0], w[1])))
    assert data[2, 1, 4] == pytest.approx(by_window.loc[[(98, 32)], "prob_fair"].iloc[0], abs=1e-7)
    assert data[2, 1, 3] == pytest.approx(by_window.loc[[(96, 32)], "prob_fair"].iloc[0], abs=1e-7)
    assert data[2, 3, 0] == pytest.approx(by_window.loc[[(0, 68)], "prob_fair"].iloc[0], abs=1e-7)


def test_geotiff_overlapping_windows_take_the_nearest_centre(rgb_scene, tmp_path):
    preds = fake_predictions(rgb_scene, stride=20)
    out = write_prediction_geotiff(preds, rgb_scene, tmp_path / "p.tif")
    with rasterio.open(out) as ds, rasterio.open(rgb_scene) as scene:
        assert ds.transform == scene.transform * Affine.scale(20)  # the stride, inferred from the windows
        data = ds.read(1)
    assert data.shape == (5, 7) and (data != PREDICTION_NODATA).all()
    # pixel (row 1, col 2) has its centre at scene px (50, 30): windows at col_off 20 and 40, row_off 0 and 20
    # contain it; the one at (40, 20) has the nearest centre (56, 36)
    idx = preds.index[preds["window"].map(lambda w: w == (40, 20, 32, 32))][0]
    assert data[1, 2] == preds.loc[idx, "class_index"]
    fine = write_prediction_geotiff(preds, rgb_scene, tmp_path / "fine.tif", cell=1)
    with rasterio.open(fine) as ds, rasterio.open(rgb_scene) as scene:
        assert ds.transform == scene.transform and ds.shape == scene.shape
        assert ds.read(1)[30, 50] == preds.loc[idx, "class_index"]


def nearest_window_by_brute_force(windows, cx, cy):
    """The rule of write_prediction_geotiff written plainly: for every output pixel, every window containing it, the
    smallest squared centre distance; ties to the window listed first."""
    owner = np.full((len(cy), len(cx)), -1)
    best = np.full(owner.shape, np.inf)
    for k, (co, ro, w, h) in enumerate(windows):
        inside = ((cx >= co) & (cx < co + w))[None, :] & ((cy >= ro) & (cy < ro + h))[:, None]
        dist = (cy[:, None] - (ro + h / 2)) ** 2 + (cx[None, :] - (co + w / 2)) ** 2
        better = inside & (dist < best)
        best[better], owner[better] = dist[better], k
    return owner


def pixel_centres(width, height, cell):
    cx = np.minimum((np.arange(-(-width // cell)) + 0.5) * cell, width - 0.5)
    cy = np.minimum((np.arange(-(-height // cell)) + 0.5) * cell, height - 0.5)
    return cx, cy


@pytest.mark.parametrize("seed", range(6))
def test_window_owner_equals_the_plain_nearest_centre_rule(seed):
    """Cores burnt by rasterize + the fallback next to holes give the same owner as the brute-force rule: grids with
    and without overlap, windows dropped (holes), windows shifted to the scene edge, irregular windows, any cell."""
    rng = np.random.default_rng(seed)
    width, height = int(rng.integers(40, 140)), int(rng.integers(40, 140))
    size = int(rng.integers(8, 33))
    stride = int(rng.choice([size, max(1, size // 2), max(1, size - 3)]))
    info = type("Info", (), {"width": width, "height": height})()
    grid = np.array([w[2:] for w in scene_windows(info, size, stride)], dtype=np.int64)
    keep = rng.random(len(grid)) > rng.choice([0.0, 0.2, 0.5])
    irregular = np.stack(
        [rng.integers(0, width - 8, 30), rng.integers(0, height - 8, 30), np.full(30, 8), np.full(30, 8)], axis=1
    )
    for windows in (grid, grid[keep], irregular):
        # listed upper-left first (as scene windows are), so "first listed" and "upper-left" break ties alike
        windows = windows[np.lexsort((windows[:, 0] + windows[:, 2] / 2, windows[:, 1] + windows[:, 3] / 2))]
        for cell in (1, stride, 7):
            cx, cy = pixel_centres(width, height, cell)
            np.testing.assert_array_equal(
                window_owner(windows, cx, cy), nearest_window_by_brute_force(windows, cx, cy), err_msg=f"cell={cell}"
            )


def test_geotiff_multitask_bands(rgb_scene, tmp_path):
    targets = {"BF": ["0", "1", "2"], "LIT": ["0", "1"]}
    preds = fake_predictions(rgb_scene, targets=targets)
    out = write_prediction_geotiff(preds, rgb_scene, tmp_path / "v.tif")
    with rasterio.open(out) as ds:
        assert ds.descriptions == (
            "BF_class_index",
            "BF_prob_0",
            "BF_prob_1",
            "BF_prob_2",
            "LIT_class_index",
            "LIT_prob_0",
            "LIT_prob_1",
        )
        assert ds.tags(5)["classes"] == "0=0,1=1" and ds.tags(5)["target"] == "LIT"
        data = ds.read()
    np.testing.assert_array_equal(data[0], data[1:4].argmax(axis=0))
    np.testing.assert_array_equal(data[4], data[5:7].argmax(axis=0))


def test_geotiff_refuses_existing_output_and_other_scenes(rgb_scene, tmp_path, rng):
    preds = fake_predictions(rgb_scene)
    out = write_prediction_geotiff(preds, rgb_scene, tmp_path / "p.tif")
    before = out.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        write_prediction_geotiff(preds, rgb_scene, out)
    assert out.read_bytes() == before
    write_prediction_geotiff(preds.iloc[:3], rgb_scene, out, overwrite=True)
    assert out.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.tif", "scene.tif"]  # no temporary files left
    other = write_geotiff(tmp_path / "other.tif", rng.integers(0, 255, (3, 40, 40), dtype=np.uint8))
    with pytest.raises(ConfigError, match="no windows of"):
        write_prediction_geotiff(preds, other, tmp_path / "o.tif")
    with pytest.raises(ConfigError, match="cell"):
        write_prediction_geotiff(preds, rgb_scene, tmp_path / "c.tif", cell=0)


def test_predictions_csv_has_centroid_lon_lat(rgb_scene):
    preds = fake_predictions(rgb_scene)
    text = predictions_csv_bytes(preds).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(preds)
    assert list(rows[0])[:6] == ["tile_id", "source", "lon", "lat", "row", "col"]
    assert rows[0]["window"] == "0,0,32,32"
    west, south, east, north = transform_bounds(preds.crs, 4326, *raster_info(rgb_scene).bounds)
    lon = np.array([float(r["lon"]) for r in rows])
    lat = np.array([float(r["lat"]) for r in rows])
    assert ((west < lon) & (lon < east) & (south < lat) & (lat < north)).all()
    centre = preds.geometry.iloc[0].centroid
    expected = gpd.GeoSeries([centre], crs=preds.crs).to_crs(4326).iloc[0]
    assert (lon[0], lat[0]) == pytest.approx((expected.x, expected.y), abs=1e-7)
    # a frame in lon/lat gives the same centroids (computed in a metric CRS)
    again = list(csv.DictReader(io.StringIO(predictions_csv_bytes(preds.to_crs(4326)).decode())))
    assert float(again[0]["lon"]) == pytest.approx(lon[0], abs=1e-6)


def test_prediction_geojson_roundtrip(rgb_scene, tmp_path):
    preds = fake_predictions(rgb_scene)
    back = gpd.read_file(write_geojson(preds, tmp_path / "p.geojson"))
    assert back.crs.to_string() in ("OGC:CRS84", "EPSG:4326")
    assert list(back["tile_id"]) == list(preds["tile_id"])
    assert back["window"].iloc[0] == "0,0,32,32"
    np.testing.assert_allclose(back[[f"prob_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-9)


def test_geojson_and_csv_written_a_frame_at_a_time_equal_the_whole_frame(rgb_scene, tmp_path):
    """The writers ``predict --cluster`` streams batches through: read back, the same collection as one write."""
    preds = fake_predictions(rgb_scene, stride=20)
    parts = [preds.iloc[:7], preds.iloc[7:7], preds.iloc[7:20], preds.iloc[20:]]  # an empty part too
    with geojson_writer(tmp_path / "parts.geojson") as add_geojson, csv_writer(tmp_path / "parts.csv") as add_csv:
        for part in parts:
            add_geojson(part)
            add_csv(part)
    whole = json.loads(write_geojson(preds, tmp_path / "whole.geojson").read_text())
    streamed = json.loads((tmp_path / "parts.geojson").read_text())
    assert streamed["type"] == "FeatureCollection" and streamed["name"] == "parts"
    assert streamed["features"] == whole["features"] and len(whole["features"]) == len(preds)
    assert streamed["bbox"] == pytest.approx(whole["bbox"], abs=1e-7)
    back = gpd.read_file(tmp_path / "parts.geojson")
    assert back.crs.to_string() in ("OGC:CRS84", "EPSG:4326") and list(back["tile_id"]) == list(preds["tile_id"])
    assert (tmp_path / "parts.csv").read_bytes() == predictions_csv_bytes(preds)
    # nothing added: a valid empty collection
    with geojson_writer(tmp_path / "empty.geojson"):
        pass
    assert gpd.read_file(tmp_path / "empty.geojson").empty


def test_streamed_writers_refuse_an_existing_file_and_leave_nothing_when_the_work_fails(rgb_scene, tmp_path):
    preds = fake_predictions(rgb_scene)
    out = tmp_path / "out"
    out.mkdir()
    kept = out / "kept.geojson"
    kept.write_text("mine")
    with pytest.raises(OutputExistsError), geojson_writer(kept):
        pass
    assert kept.read_text() == "mine"
    with (
        pytest.raises(RuntimeError),
        geojson_writer(out / "p.geojson") as add,
        csv_writer(out / "p.csv") as c,
    ):
        add(preds.iloc[:3])
        c(preds.iloc[:3])
        raise RuntimeError("the prediction failed half-way")
    assert sorted(p.name for p in out.iterdir()) == ["kept.geojson"]


def test_export_imports_neither_keras_nor_streamlit():
    code = (
        "import sys, tlgeo.export; print(sorted(m for m in ('keras', 'tensorflow', 'streamlit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
