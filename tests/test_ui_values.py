"""The dashboard for a regression run (task ``values``): Evaluate shows R², MAE, RMSE and Spearman per fold with
mean ± sd, predicted against observed and maps on a continuous scale (no confusion matrix, a note where a panel is
for classes only); Predict writes and shows values (tiles and the GeoTIFF's value band as a raster) with working
downloads; Train offers r2 only and ``auto`` shows ridge probes; Compare shows r2 and MAE with ``chip_stats``.

The task folder is generated in code (tests/test_values.py: a 4-band uint16 scene in UTM 18N whose brightness sets
a made-up share) and served as the sidebar's sample ``values`` folder; runs use the tiny backbone at 32 px.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from tests.test_ui_pages import (  # noqa: F401
    _no_legacy_pages_mode,
    button,
    downloads,
    media,
    ok,
    open_app,
    tile_bytes,
    tiny_compare_form,
    tiny_train_form,
)
from tests.test_values import make_values_task
from tlgeo.ui import state


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _array(v) -> np.ndarray:
    """A plotly spec array: a list, or a typed array ``{"dtype", "bdata"}`` (base64)."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v, dtype="float64")


def _make_run(root: Path, strategy: str) -> str:
    from tlgeo.config import TrainConfig
    from tlgeo.runs import save_run
    from tlgeo.tasks import load_task
    from tlgeo.train import train

    data = load_task(root / "values")
    config = TrainConfig(
        backbone="tiny_cnn", strategy=strategy, img_size=32, folds=2, batch_size=16, head_epochs=10, split="random"
    )
    result = train(data, config)
    return save_run(result, data.settings, root / "runs", extra={"data": str((root / "values").resolve())}).run_id


@pytest.fixture(scope="module")
def values_runs(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A sample root with a ``values`` task folder (48 points) and a runs folder with a network run and a
    chip_stats run of it."""
    root = tmp_path_factory.mktemp("ui-values")
    make_values_task(root / "values", n=48, seed=5)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLGEO_CACHE", str(tmp_path_factory.getbasetemp() / "tlgeo-cache"))
        runs = {s: _make_run(root, s) for s in ("features_linear", "chip_stats")}
    return root, runs


@pytest.fixture
def values_env(monkeypatch, values_runs):
    root, runs = values_runs
    monkeypatch.setenv(state.SAMPLE_ENV, str(root))
    monkeypatch.setenv(state.RUNS_ENV, str(root / "runs"))
    monkeypatch.setenv(state.TEST_BACKBONE_ENV, "1")
    return root, runs


def _values_app(page: str, run_id: str | None = None):
    at = open_app()
    at.selectbox(key=state.TASK).set_value("values").run()
    ok(at)
    if run_id is not None:
        at.sidebar.selectbox(key=state.RUN).set_value(run_id).run()
    at.switch_page(f"pages/{page}.py").run()
    return ok(at)


def test_evaluate_a_values_run_shows_regression_widgets(values_env):
    _, runs = values_env
    at = _values_app("evaluate", runs["features_linear"])
    labels = [m.label for m in at.metric]
    assert labels == ["r2", "mae", "rmse", "spearman"] and all("±" in m.value for m in at.metric)
    table = at.dataframe[0].value
    assert list(table["fold"]) == ["0", "1", "mean ± sd"]
    assert {"r2", "mae", "rmse", "spearman", "bias"} <= set(table.columns) and "±" in table["r2"].iloc[-1]
    charts = _charts(at)
    kinds = {t["type"] for c in charts for t in c["data"]}
    assert "heatmap" not in kinds  # no confusion matrix
    scatter = charts[0]
    assert any(t.get("name") == "1:1" for t in scatter["data"])
    observed = np.concatenate([_array(t["x"]) for t in scatter["data"] if t.get("name", "").startswith("fold")])
    assert len(observed) == 48 and observed.min() >= 0 and observed.max() <= 110  # the shares, out of fold
    value_map = next(c for c in charts if "map" in c["layout"] and "folds" not in c["layout"]["title"]["text"])
    trace = value_map["data"][0]
    scale = trace.get("colorscale") or trace["marker"]["colorscale"]
    assert len(scale) > 2 and value_map["layout"]["map"]["style"] == "white-bg"  # a continuous colour scale
    assert any("nothing to calibrate" in i.value for i in at.info)  # class-only panel: a note
    at.radio(key="evaluate_value_layer").set_value("residual (predicted − observed)").run()
    ok(at)
    residual = next(c for c in _charts(at) if "residual" in c["layout"].get("title", {}).get("text", ""))
    t = residual["data"][0]
    lo, hi = (t["zmin"], t["zmax"]) if "zmin" in t else (t["marker"]["cmin"], t["marker"]["cmax"])
    assert lo == pytest.approx(-hi) and hi > 0  # diverging, centred on 0


def test_predict_a_scene_with_a_values_run_writes_and_shows_values(values_env, media):  # noqa: F811
    _, runs = values_env
    at = _values_app("predict", runs["features_linear"])
    at.radio(key=state.PREDICT_MODE).set_value("A scene of the current data").run()
    button(at, "Predict ").click().run()
    ok(at)
    assert any("tiles predicted" in m.value and "share from" in m.value for m in at.markdown)
    files = downloads(at, media)
    assert set(files) == {"geojson", "csv", "tif"}
    gdf = gpd.read_file(io.BytesIO(files["geojson"]))
    assert gdf.crs.to_epsg() == 4326 and "value" in gdf and not any(c.startswith("prob_") for c in gdf.columns)
    csv = pd.read_csv(io.BytesIO(files["csv"]))
    np.testing.assert_allclose(np.sort(csv["value"]), np.sort(gdf["value"]), rtol=1e-5)
    with rasterio.MemoryFile(files["tif"]) as mem, mem.open() as ds:
        assert ds.count == 1 and ds.descriptions == ("value",) and ds.dtypes[0] == "float32"
    spec = _charts(at)[0]
    trace = spec["data"][0]
    assert trace["type"] == "choroplethmap" and trace["colorbar"]["title"]["text"] == "share"
    np.testing.assert_allclose(np.sort(_array(trace["z"])), np.sort(gdf["value"]), rtol=1e-5)
    at.radio(key="predict_view").set_value("raster").run()
    ok(at)
    layers = _charts(at)[0]["layout"]["map"]["layers"]
    assert layers[-1]["sourcetype"] == "image" and layers[-1]["source"].startswith("data:image/png")
    assert any("dark purple" in c.value for c in at.caption)


def test_predict_uploaded_tile_with_a_chip_stats_values_run(values_env, media):  # noqa: F811
    root, runs = values_env
    at = _values_app("predict", runs["chip_stats"])
    scene = root / "values" / "imagery" / "scene.tif"
    tiles = [("west.tif", tile_bytes(scene, 8, 40, size=16), "image/tiff")]
    tiles.append(("east.tif", tile_bytes(scene, 136, 40, size=16), "image/tiff"))
    at.file_uploader(key=state.PREDICT_UPLOAD).set_value(tiles).run()
    button(at, "Predict 2 uploaded").click().run()
    ok(at)
    files = downloads(at, media)
    gdf = gpd.read_file(io.BytesIO(files["geojson"])).set_index("tile_id")
    assert set(files) == {"geojson", "csv"} and gdf.loc["east", "value"] > gdf.loc["west", "value"]


def test_train_page_offers_r2_and_auto_shows_ridge_probes(values_env):
    root, _ = values_env
    at = _values_app("train")
    assert at.selectbox(key="train_metric_values").options == ["r2"]
    assert at.selectbox(key="train_class_weights_values").options == ["none"]
    tiny_train_form(at, "auto", epochs=1, head_epochs=3)
    at.radio(key="train_split").set_value("random")
    button(at, "Train and save").click().run()
    ok(at)
    assert any("Advisor picked" in m.value and "by r2" in m.value and "weighting none" in m.value for m in at.markdown)
    probes = next(d.value for d in at.dataframe if "probe" in d.value.columns)
    assert probes["probe"].iloc[0] == "chip_stats" and probes["probe"].str.startswith("ridge@").sum() == 3
    assert [m.label for m in at.metric] == ["r2", "mae", "rmse", "spearman"]
    saved = sorted((root / "runs").glob("*-values-*auto*")) or sorted((root / "runs").iterdir())
    config = json.loads((max(saved, key=lambda p: p.stat().st_mtime) / "config.json").read_text())
    assert config["train"]["metric"] == "r2" and config["train"]["class_weights"] == "none"


def test_compare_page_with_values_strategies(values_env):
    at = _values_app("compare")
    tiny_compare_form(at, ["chip_stats", "features_linear"])
    button(at, "Compare").click().run()
    ok(at)
    table = next(d.value for d in at.dataframe if "backbone" in d.value.columns)
    assert list(table["strategy"]) == ["chip_stats", "features_linear"]
    assert table["r2"].str.contains("±").all() and table["mae"].str.contains("±").all()
    assert "accuracy" not in table.columns
    assert any("scores best" in i.value and "r2" in i.value for i in at.info)


def test_values_map_clicks_read_the_tile_and_value_layer_is_continuous(tmp_path):
    from rasterio.transform import from_origin
    from shapely.geometry import box

    from tests.conftest import write_geotiff
    from tlgeo.ui import imagery_ui
    from tlgeo.viz.values import value_layer, values_map

    tiles = gpd.GeoDataFrame(
        {"tile_id": ["a", "b", "c"], "value": [1.5, np.nan, 7.0]},
        geometry=[box(500000 + 100 * i, 4500000, 500100 + 100 * i, 4500100) for i in range(3)],
        crs="EPSG:32618",
    )
    fig = values_map(tiles, "value", hover=["tile_id"], colorbar_title="share")
    trace = fig.data[0]
    assert list(trace.z) == [1.5, 7.0] and (trace.zmin, trace.zmax) == (1.5, 7.0)  # the tile without a value left out
    event = {"selection": {"points": [{"curve_number": 0, "point_index": 1}]}}
    assert imagery_ui.selected_tile(event, fig) == "c"  # a click names the tile, not its value
    band = np.array([[-1, 0.0, 5.0, 10.0]], dtype="float32").repeat(4, axis=0)
    tif = write_geotiff(tmp_path / "pred.tif", band, crs="EPSG:32618", transform=from_origin(500000, 4500400, 100, 100))
    with rasterio.open(tif, "r+") as ds:
        ds.nodata = -1
        ds.set_band_description(1, "value")
    layer, (lo, hi) = value_layer(tif)
    assert (lo, hi) == (0.0, 10.0) and layer["sourcetype"] == "image"
    from PIL import Image

    png = Image.open(io.BytesIO(base64.b64decode(layer["source"].split(",", 1)[1]))).convert("RGBA")
    rgba = np.asarray(png)[0][:: png.width // 4]  # one pixel per cell (the layer enlarges cells by repetition)
    assert rgba[0, 3] == 0 and (rgba[1:, 3] == 255).all()  # nodata transparent
    assert len({tuple(p[:3]) for p in rgba[1:]}) == 3  # three values, three colours along the scale
    with pytest.raises(Exception, match="no band 'share_value'"):
        value_layer(tif, target="share")


def test_data_page_of_a_values_task_shows_the_value_distribution_and_tiles_by_value(values_env):
    at = _values_app("data")
    assert "Value distribution" in " ".join(m.value for m in at.markdown)
    hist = next(c for c in _charts(at) if any(t["type"] == "histogram" for t in c["data"]))
    values = _array(hist["data"][0]["x"])
    assert len(values) == 48 and values.min() >= 0  # every labelled point, as a number, not a class count
    assert not any("Class balance" in m.value for m in at.markdown)
    assert [s.value for s in at.subheader] == ["Tiles by value"]
    gallery = at.get("image")[-1].proto.imgs  # the last image group: the gallery (the first is the composite)
    captions = [float(i.caption) for i in gallery]
    assert captions == sorted(captions) and len(captions) >= 6  # lowest → highest value
