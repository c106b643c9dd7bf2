"""Prediction over tiles and whole scenes with tiny runs trained in-test (tiny_cnn, img 32, tile 32)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds
from shapely.geometry import LineString

from tests.conftest import ROOT, SAMPLE, train_saved_run, write_geotiff
from tlgeo.config import TrainConfig
from tlgeo.errors import CompatibilityError, ConfigError, GeoreferenceError, OutputExistsError, RasterError, RunError
from tlgeo.export import write_geojson
from tlgeo.predict import (
    PredictionResult,
    Predictor,
    load_predictor,
    predict_inputs,
    predict_scene,
    predict_tiles,
    predictions_along_roads,
)
from tlgeo.runs import load_run, save_run
from tlgeo.tiles import raster_info, scene_windows

FAST = TrainConfig(
    backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2, head_epochs=8, batch_size=16, patience=2
)
CLASSES = ["good", "fair", "poor"]
PROBS = [f"prob_{c}" for c in CLASSES]


def _train(tmp: Path, multi: bool = False):
    tmp.mkdir(parents=True, exist_ok=True)
    return train_saved_run(tmp, tmp / "runs", FAST, multi=multi)


@pytest.fixture(scope="module")
def roads(tmp_path_factory):
    """(task, run, predictor) for a roads-like task: 12 × 12 tiles of 32 px, classes good/fair/poor."""
    task, run = _train(tmp_path_factory.mktemp("roads"))
    return task, run, load_predictor(run)


@pytest.fixture(scope="module")
def villages(tmp_path_factory):
    task, run = _train(tmp_path_factory.mktemp("villages"), multi=True)
    return task, run, load_predictor(run)


def _tile(rng, value: int, size: int = 32, bands: int = 3) -> np.ndarray:
    return np.clip(rng.normal(value, 10, size=(bands, size, size)), 0, 255).astype(np.uint8)


def _four_band(path: Path, rng) -> Path:
    """A 4-band tile that is not RGBA (e.g. blue, green, red, near-infrared): GDAL's default would be RGBA."""
    write_geotiff(path, _tile(rng, 100, bands=4))
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [rasterio.enums.ColorInterp.gray] + [rasterio.enums.ColorInterp.undefined] * 3
    return path


# --------------------------------------------------------------------------------------------- scenes
def test_scene_geojson_has_one_feature_per_window_inside_the_scene(roads, rgb_scene, tmp_path):
    _, run, predictor = roads
    calls = []
    result = predict_scene(predictor, rgb_scene, progress=lambda done, total: calls.append((done, total)))
    info = raster_info(rgb_scene)
    windows = scene_windows(info, 32, 32)
    assert isinstance(result, PredictionResult) and result.run_id == run.run_id
    assert len(result.predictions) == len(windows) == 4 * 5  # 100 × 130 px, tile 32: last row/col end at the edge
    assert calls[-1] == (len(windows), len(windows))
    assert result.predictions.crs == info.crs

    out = write_geojson(result.predictions, tmp_path / "preds.geojson")
    back = gpd.read_file(out)
    assert back.crs.to_string() in ("OGC:CRS84", "EPSG:4326")
    assert len(back) == len(windows)
    west, south, east, north = transform_bounds(info.crs, "EPSG:4326", *info.bounds)
    minx, miny, maxx, maxy = back.total_bounds
    eps = 1e-6
    assert west - eps <= minx and maxx <= east + eps and south - eps <= miny and maxy <= north + eps
    assert minx == pytest.approx(west, abs=1e-6) and maxy == pytest.approx(north, abs=1e-6)
    np.testing.assert_allclose(back[PROBS].sum(axis=1), 1.0, atol=1e-5)
    assert set(back["label"]) <= set(CLASSES)
    assert (back["label"] == np.asarray(CLASSES)[back["class_index"]]).all()
    assert (back["class_index"] == back[PROBS].to_numpy().argmax(axis=1)).all()
    assert set(back["run_id"]) == {run.run_id} and set(back["backbone"]) == {"tiny_cnn"}
    assert back["tile_id"].is_unique and back["tile_id"].iloc[0] == "scene_r000_c000"
    raw = json.loads(out.read_text())
    ring = raw["features"][0]["geometry"]["coordinates"][0]
    assert shapely.Polygon(ring).exterior.is_ccw  # RFC 7946 right-hand rule


@pytest.mark.parametrize("stride", [32, 20])
def test_scene_not_a_multiple_of_the_stride_is_covered_to_its_edges(roads, rgb_scene, stride):
    _, _, predictor = roads
    preds = predict_scene(predictor, rgb_scene, stride=stride).predictions
    info = raster_info(rgb_scene)
    assert len(preds) == len(scene_windows(info, 32, stride))
    union = shapely.union_all(preds.geometry.values)
    scene = shapely.box(*info.bounds)
    assert union.symmetric_difference(scene).area == pytest.approx(0.0, abs=1e-6)
    windows = np.array(preds["window"].tolist())
    assert windows[:, 0].max() + 32 == info.width and windows[:, 1].max() + 32 == info.height


def test_predictions_equal_training_inputs(roads):
    """Same reads, resampling and uint8 rounding as training: probabilities equal the model on load_images."""
    from tlgeo.datasets import load_images

    task, _, predictor = roads
    preds = predict_scene(predictor, task.tiles["path"].iloc[0]).predictions
    assert list(preds["tile_id"]) == list(task.tiles["tile_id"])
    images = load_images(task.tiles, predictor.bands, predictor.img_size, use_cache=False)
    expected = predictor.model.predict(images.astype("float32"), verbose=0)
    from tlgeo.calibration import apply_temperature

    expected = apply_temperature(expected, predictor.temperature["quality"])  # the run's calibration temperature
    np.testing.assert_allclose(preds[PROBS].to_numpy(), expected, atol=1e-5)
    labelled = task.tiles["quality"].to_numpy() >= 0
    agree = (preds["class_index"].to_numpy() == task.tiles["quality"].to_numpy())[labelled].mean()
    assert agree > 0.8  # the tiles are easy; the refitted model has seen them


@pytest.mark.parametrize(
    ("size", "stride", "img", "dtype"),
    [
        (32, 32, 32, "uint8"),
        (32, 20, 32, "uint8"),
        (40, 40, 32, "uint8"),
        (24, 16, 32, "uint8"),
        (32, 20, 32, "uint16"),
    ],
)
def test_window_reads_equal_training_reads(tmp_path, rng, monkeypatch, size, stride, img, dtype):
    """Strip reads (no resampling; 8-bit fast path or scaled) and per-window reads (resampling) give exactly the
    training-time uint8 images."""
    import tlgeo.predict.streaming as predict_module
    from tlgeo.config import BandConfig
    from tlgeo.datasets import load_images
    from tlgeo.tiles import tile_index

    high = 256 if dtype == "uint8" else 4000
    data = rng.integers(1, high, size=(3, 100, 130)).astype(dtype)
    data[:, 10:30, 40:75] = 0  # nodata holes: masks must be sliced like the images
    scene = write_geotiff(tmp_path / "holes.tif", data, nodata=0)
    bands = BandConfig() if dtype == "uint8" else BandConfig(scaling="percentile")
    monkeypatch.setattr(predict_module, "STRIP_PX", 64)  # several strips per row of windows
    index = tile_index(scene, size=size, stride=stride)
    windows = [tuple(w) for w in index["window"]]
    expected = load_images(index, bands, img, use_cache=False)
    got = [
        (predict_module._as_stored(im, bands), valid)
        for im, valid in predict_module._window_images(scene, windows, bands, img)
    ]
    np.testing.assert_array_equal(np.stack([g[0] for g in got]), expected)
    if size == img:
        for (co, ro, w, h), (_, valid) in zip(windows, got, strict=True):
            np.testing.assert_array_equal(valid, data[0, ro : ro + h, co : co + w] > 0)


def test_nodata_windows_are_skipped(roads, tmp_path, rng):
    _, _, predictor = roads
    data = rng.integers(1, 256, size=(3, 64, 96), dtype=np.uint8)
    data[:, :, :32] = 0  # the left column of windows is all nodata
    scene = write_geotiff(tmp_path / "holes.tif", data, nodata=0)
    result = predict_scene(predictor, scene)
    assert len(result.predictions) == 4
    assert set(result.predictions["col"]) == {1, 2}
    assert any("2 of 6 window(s) skipped: all nodata" in w for w in result.warnings)
    assert len(predict_scene(predictor, scene, skip_empty=False).predictions) == 6


def test_progress_callback_can_cancel(roads, rgb_scene):
    """The UI cancels by raising from the progress callback: the error comes through and no reader thread is left."""
    import threading

    _, _, predictor = roads

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        predict_scene(predictor, rgb_scene, batch_size=2, progress=cancel)
    assert not [t for t in threading.enumerate() if t.name.startswith("tlgeo-read")]


def test_scene_smaller_than_a_tile_is_one_resampled_tile(roads, tmp_path, rng):
    _, _, predictor = roads
    small = write_geotiff(tmp_path / "small.tif", _tile(rng, 130, size=20))
    result = predict_scene(predictor, small)
    assert len(result.predictions) == 1
    assert result.predictions["window"].iloc[0] == (0, 0, 20, 20)
    assert "smaller than the run's tile size" in result.warnings[0] and "small.tif" in result.warnings[0]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_scene_errors_are_clear(roads, tmp_path, rng):
    _, _, predictor = roads
    with pytest.raises(CompatibilityError, match="uint16"):
        predict_scene(predictor, write_geotiff(tmp_path / "u16.tif", rng.integers(0, 4000, (3, 64, 64), np.uint16)))
    with pytest.raises(GeoreferenceError, match="no CRS"):
        predict_scene(predictor, write_geotiff(tmp_path / "nocrs.tif", _tile(rng, 100, 64), crs=None))
    with pytest.raises(ConfigError, match="stride"):
        predict_scene(predictor, tmp_path / "u16.tif", stride=0)
    empty = write_geotiff(tmp_path / "empty.tif", np.zeros((3, 64, 64), np.uint8), nodata=0)
    with pytest.raises(RasterError, match="no valid pixel"):
        predict_scene(predictor, empty)


# --------------------------------------------------------------------------------------------- tiles
def _write_png(path: Path, data: np.ndarray) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(
            path, "w", driver="PNG", width=data.shape[2], height=data.shape[1], count=3, dtype="uint8"
        ) as ds:
            ds.write(data)
    return path


def _write_png_with_world_file(path: Path, data: np.ndarray, transform, crs: str) -> Path:
    with rasterio.open(
        path, "w", driver="PNG", width=data.shape[2], height=data.shape[1], count=3, dtype="uint8"
    ) as ds:
        ds.write(data)
    centre_x, centre_y = transform * (0.5, 0.5)
    lines = [transform.a, transform.d, transform.b, transform.e, centre_x, centre_y]
    path.with_suffix(".pgw").write_text("".join(f"{v}\n" for v in lines))
    path.with_suffix(".prj").write_text(rasterio.crs.CRS.from_user_input(crs).to_wkt())
    for aux in path.parent.glob(f"{path.name}.aux.xml"):
        aux.unlink()
    return path


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_tiles_in_any_crs_png_world_file_and_bad_tiles(roads, tmp_path, rng):
    _, _, predictor = roads
    good = write_geotiff(tmp_path / "a_utm.tif", _tile(rng, 60))
    png = _write_png_with_world_file(
        tmp_path / "b_png.png", _tile(rng, 200), from_origin(257100.0, 9858000.0, 1.0, 1.0), "EPSG:32737"
    )
    lonlat = write_geotiff(
        tmp_path / "c_lonlat.tif", _tile(rng, 130), crs="EPSG:4326", transform=from_origin(36.8, -1.3, 1e-5, 1e-5)
    )
    four = _four_band(tmp_path / "d_four.tif", rng)
    nocrs = write_geotiff(tmp_path / "e_nocrs.tif", _tile(rng, 100), crs=None)
    u16 = write_geotiff(tmp_path / "f_u16.tif", rng.integers(0, 4000, (3, 32, 32), np.uint16))
    missing = tmp_path / "g_missing.tif"
    calls = []
    result = predict_tiles(
        predictor, [good, png, lonlat, four, nocrs, u16, missing], progress=lambda d, t: calls.append((d, t))
    )
    preds = result.predictions
    assert list(preds["tile_id"]) == ["a_utm", "b_png", "c_lonlat"]
    assert preds.crs == raster_info(good).crs  # the first input's CRS
    assert calls[-1] == (7, 7)
    # the PNG footprint comes from its world file; the EPSG:4326 tile is reprojected into the frame's CRS
    assert preds.geometry.iloc[1].bounds == pytest.approx((257100.0, 9857968.0, 257132.0, 9858000.0))
    assert preds.geometry.iloc[2].centroid.x == pytest.approx(
        gpd.GeoSeries([shapely.Point(36.80016, -1.30016)], crs=4326).to_crs(preds.crs).x.iloc[0], abs=0.5
    )
    np.testing.assert_allclose(preds[PROBS].sum(axis=1), 1.0, atol=1e-5)
    assert len(result.warnings) == 4
    for name, reason in [
        ("d_four.tif", "4 bands"),
        ("e_nocrs.tif", "no CRS"),
        ("f_u16.tif", "uint16"),
        ("g_missing.tif", "does not exist"),
    ]:
        assert any(name in w and "skipped" in w and reason in w for w in result.warnings), (name, result.warnings)


def test_png_with_explicit_bounds(roads, tmp_path, rng):
    _, _, predictor = roads
    path = _write_png(tmp_path / "plain.png", _tile(rng, 60))
    result = predict_tiles(predictor, [path], bounds=(257000.0, 9857968.0, 257032.0, 9858000.0), crs="EPSG:32737")
    assert result.predictions.geometry.iloc[0].bounds == (257000.0, 9857968.0, 257032.0, 9858000.0)
    with pytest.raises(GeoreferenceError, match="no georeference"):
        predict_tiles(predictor, [path])


def test_nothing_predicted_raises_with_the_reasons(roads, tmp_path, rng):
    _, _, predictor = roads
    four = _four_band(tmp_path / "four.tif", rng)
    five = write_geotiff(tmp_path / "five.tif", _tile(rng, 100, bands=5))
    with pytest.raises(CompatibilityError, match=r"Nothing could be predicted.*four\.tif.*5 bands"):
        predict_tiles(predictor, [four, five])


def test_predict_inputs_mixes_tiles_folders_and_scenes(roads, tmp_path, rng, rgb_scene):
    _, _, predictor = roads
    folder = tmp_path / "tiles"
    folder.mkdir()
    write_geotiff(folder / "t1.tif", _tile(rng, 60))
    write_geotiff(folder / "t2.tif", _tile(rng, 200, size=40))  # ≤ 1.5 × tile size: still a tile
    _four_band(folder / "bad.tif", rng)
    calls = []
    result = predict_inputs(predictor, [folder, rgb_scene], progress=lambda d, t: calls.append((d, t)))
    preds = result.predictions
    assert preds["source"].value_counts().to_dict() == {"scene": 20, "t1": 1, "t2": 1}
    assert calls[-1] == (3 + 20, 3 + 20)
    assert len(result.warnings) == 1 and "bad.tif" in result.warnings[0]
    assert result.class_counts()["quality"] == {c: int((preds["label"] == c).sum()) for c in CLASSES}


def test_multitask_columns(villages, tmp_path):
    task, run, _ = villages
    result = predict_scene(run, task.tiles["path"].iloc[0])  # a Run works as well as a Predictor
    preds = result.predictions
    assert result.targets == {"A": ["0", "1", "2"], "B": ["0", "1"]}
    for target, classes in result.targets.items():
        cols = [f"{target}_prob_{c}" for c in classes]
        assert {f"{target}_label", f"{target}_class_index", *cols} <= set(preds.columns)
        np.testing.assert_allclose(preds[cols].sum(axis=1), 1.0, atol=1e-5)
        assert (preds[f"{target}_class_index"] == preds[cols].to_numpy().argmax(axis=1)).all()
    assert "label" not in preds.columns
    back = gpd.read_file(write_geojson(preds, tmp_path / "v.geojson"))
    assert "B_prob_1" in back.columns and len(back) == len(task.tiles)


# --------------------------------------------------------------------------------------------- roads
def test_predictions_along_roads_split_a_line_at_tile_edges(roads, tmp_path, rng):
    _, _, predictor = roads
    img = np.concatenate([_tile(rng, 60), _tile(rng, 200)], axis=2)  # two tiles side by side, 64 × 32 px
    scene = write_geotiff(tmp_path / "pair.tif", img)
    preds = predict_scene(predictor, scene).predictions
    assert len(preds) == 2
    x0, y0 = 257000.0, 9858000.0
    line = LineString([(x0 + 5, y0 - 16), (x0 + 60, y0 - 16)])  # crosses both tiles
    outside = LineString([(x0 + 500, y0), (x0 + 600, y0)])
    roads_gdf = gpd.GeoDataFrame(
        {"road_id": ["r1", "far"], "surface": ["good", "poor"]}, geometry=[line, outside], crs="EPSG:32737"
    ).to_crs(4326)
    pieces = predictions_along_roads(preds, roads_gdf)
    assert list(pieces["road_id"]) == ["r1", "r1"]
    assert list(pieces["tile_id"]) == list(preds["tile_id"])
    assert list(pieces["label"]) == list(preds["label"])
    assert pieces.crs == preds.crs
    assert pieces["length_m"].tolist() == pytest.approx([27.0, 28.0], abs=1e-6)
    assert {"surface", "prob_good", "run_id"} <= set(pieces.columns)


def test_predictions_along_roads_with_overlapping_windows(roads, rgb_scene):
    _, _, predictor = roads
    preds = predict_scene(predictor, rgb_scene, stride=16).predictions
    info = raster_info(rgb_scene)
    left, bottom, right, top = info.bounds
    line = LineString([(left + 3, bottom + 7), (right - 2, top - 11)])
    pieces = predictions_along_roads(preds, gpd.GeoDataFrame({"id": [1]}, geometry=[line], crs=info.crs))
    assert pieces["length_m"].sum() == pytest.approx(line.length, rel=1e-9)  # no overlap, nothing lost
    assert shapely.union_all(pieces.geometry.values).length == pytest.approx(line.length, rel=1e-9)
    for _, piece in pieces.iterrows():  # each piece lies in the footprint of its own tile
        foot = preds.loc[preds["tile_id"] == piece["tile_id"], "geometry"].iloc[0]
        assert foot.buffer(1e-6).contains(piece.geometry)


def test_predictions_along_roads_target_choice(villages):
    task, _, predictor = villages
    preds = predict_scene(predictor, task.tiles["path"].iloc[0]).predictions
    line = LineString(shapely.get_coordinates(preds.geometry.iloc[[0, 5]].centroid))
    roads_gdf = gpd.GeoDataFrame({"name": ["x"]}, geometry=[line], crs=preds.crs)
    pieces = predictions_along_roads(preds, roads_gdf, target="B")
    assert {"label", "class_index", "prob_0", "prob_1"} <= set(pieces.columns) and "A_label" not in pieces.columns
    everything = predictions_along_roads(preds, roads_gdf)
    assert {"A_label", "B_prob_1"} <= set(everything.columns)
    with pytest.raises(ConfigError, match="target 'C'"):
        predictions_along_roads(preds, roads_gdf, target="C")


# --------------------------------------------------------------------------------------------- runs and outputs
def test_incomplete_or_incompatible_run_folders(roads, tmp_path):
    import shutil

    _, run, _ = roads
    broken = tmp_path / "broken"
    shutil.copytree(run.path, broken)
    (broken / "model.keras").unlink()
    with pytest.raises(RunError, match=r"incomplete: missing model\.keras"):
        load_predictor(broken)
    old = tmp_path / "old"
    shutil.copytree(run.path, old)
    cfg = json.loads((old / "config.json").read_text())
    cfg["format"] = 0
    (old / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunError, match="format 0"):
        predict_scene(old, tmp_path / "whatever.tif")
    wrong = tmp_path / "wrong"
    shutil.copytree(run.path, wrong)
    cfg = json.loads((wrong / "config.json").read_text())
    cfg["train"]["img_size"] = 64
    (wrong / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(RunError, match="img_size=64"):
        Predictor(load_run(wrong))


def test_output_exists_is_refused(roads, rgb_scene, tmp_path):
    _, _, predictor = roads
    preds = predict_scene(predictor, rgb_scene).predictions
    out = write_geojson(preds, tmp_path / "p.geojson")
    before = out.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        write_geojson(preds.iloc[:1], out)
    assert out.read_bytes() == before
    write_geojson(preds.iloc[:1], out, overwrite=True)
    assert len(gpd.read_file(out)) == 1


# --------------------------------------------------------------------------------------------- CLI
def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "tlgeo", "predict", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_cli_writes_geojson_geotiff_and_csv(roads, rgb_scene, tmp_path, rng):
    _, run, _ = roads
    bad = _four_band(tmp_path / "four.tif", rng)
    out, tif, csv = tmp_path / "preds.geojson", tmp_path / "preds.tif", tmp_path / "preds.csv"
    proc = _cli(
        "--run", str(run.path), "--out", str(out), "--geotiff", str(tif), "--csv", str(csv), str(rgb_scene), str(bad)
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "20 tile(s) predicted" in proc.stdout
    assert "warning:" in proc.stdout and "four.tif" in proc.stdout
    assert f"wrote {out}" in proc.stdout and f"wrote {tif}" in proc.stdout
    assert len(gpd.read_file(out)) == 20
    with rasterio.open(tif) as ds, rasterio.open(rgb_scene) as scene:
        assert ds.crs == scene.crs
        assert ds.transform == scene.transform * rasterio.Affine.scale(32)
        assert ds.count == 4 and ds.descriptions[0] == "class_index"
    assert csv.read_text().splitlines()[0].startswith("tile_id,source,lon,lat,")
    again = _cli("--run", str(run.path), "--out", str(out), str(rgb_scene))
    assert again.returncode == 2 and "already exists" in again.stderr and "--overwrite" in again.stderr
    assert _cli("--run", str(run.path), "--out", str(out), "--overwrite", str(rgb_scene)).returncode == 0


def test_cli_errors_are_one_line(roads, tmp_path, rgb_scene):
    _, run, _ = roads
    proc = _cli("--run", str(tmp_path / "nope"), "--out", str(tmp_path / "x.geojson"), str(rgb_scene))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: Run folder") and len(proc.stderr.strip().splitlines()) == 1
    other = write_geotiff(tmp_path / "other.tif", np.zeros((3, 80, 80), np.uint8))
    proc = _cli(
        "--run",
        str(run.path),
        "--out",
        str(tmp_path / "x.geojson"),
        "--geotiff",
        str(tmp_path / "x.tif"),
        str(rgb_scene),
        str(other),
    )
    assert proc.returncode == 2 and "exactly one scene" in proc.stderr
    assert not (tmp_path / "x.geojson").exists()


# --------------------------------------------------------------------------------------------- sample data
SAMPLE_ROADS = Path(os.environ.get("TLGEO_SAMPLE_ROADS", SAMPLE / "roads"))


@pytest.mark.slow
@pytest.mark.skipif(
    not (SAMPLE_ROADS / "truth" / "roads_truth.geojson").exists(),
    reason=f"{SAMPLE_ROADS} missing: run `python -m tlgeo sample --out sample_data`",
)
def test_sample_roads_undriven_roads_match_the_surface_drawn(tmp_path):
    """Train on driven roads of the sample scenes, predict both scenes whole, compare along undriven roads."""
    from tlgeo.tasks import load_task
    from tlgeo.train import train

    task = load_task(SAMPLE_ROADS)
    cfg = TrainConfig(backbone="efficientnet_lite0", strategy="features_linear", img_size=64, folds=2, augment=False)
    run = save_run(train(task, cfg), task.settings, tmp_path / "runs")
    result = predict_inputs(run, [SAMPLE_ROADS / "imagery"])
    assert len(result.predictions) == len(task.tiles) and not result.warnings
    truth = gpd.read_file(SAMPLE_ROADS / "truth" / "roads_truth.geojson")
    undriven = truth[~truth["driven"].astype(bool)]
    assert len(undriven)
    pieces = predictions_along_roads(result.predictions, undriven)
    ok = (pieces["label"] == pieces["surface"]).to_numpy()
    agreement = float((pieces["length_m"] * ok).sum() / pieces["length_m"].sum())
    print(f"sample roads: {len(pieces)} pieces along undriven roads, length-weighted agreement {agreement:.2f}")
    assert agreement >= 0.7


def test_scene_grid_array_is_scene_grid_as_an_array():
    """The cluster driver's compact plan: the same windows, in the same order, as the single-process grid."""
    from tlgeo.predict.inputs import scene_grid, scene_grid_array

    for width, height, size, stride in ((130, 100, 32, None), (130, 100, 32, 20), (64, 64, 64, None), (50, 300, 64, 7)):
        info = type("Info", (), {"width": width, "height": height, "path": "scene.tif"})()
        grid = scene_grid_array(info, size, stride)
        assert grid.dtype == np.int64 and grid.shape[1] == 6
        np.testing.assert_array_equal(grid, np.array(scene_grid(info, size, stride), dtype=np.int64))
