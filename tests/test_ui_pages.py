"""Every dashboard page with ``streamlit.testing.v1.AppTest`` on the bundled sample data: it renders without an
exception, and its main action works (load and upload data, train a tiny run, compare two strategies, evaluate a run,
predict uploaded tiles and a scene and download the results). Bad inputs show ``st.error``, never a traceback.

Runs go to a temporary ``TLGEO_RUNS``; ``TLGEO_SHOW_TEST_BACKBONE=1`` offers ``tiny_cnn`` so training takes seconds.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.windows import Window
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, SAMPLE
from tlgeo.ui import state

APP = str(ROOT / "app.py")
SAMPLE_ROOT = Path(os.environ.get(state.SAMPLE_ENV) or SAMPLE)
ROADS = SAMPLE_ROOT / "roads"
VILLAGES = SAMPLE_ROOT / "villages"
TIMEOUT = 120


def _need(folder: Path) -> None:
    if not (folder / "imagery").is_dir():
        pytest.skip(f"{folder} is missing; run `python -m tlgeo sample --out {folder.parent}`")


def make_tiny_run(runs: Path, cache: Path) -> Path:
    """Train a tiny run on the sample roads (tiny_cnn, 32 px, 2 folds, linear head; seconds) and save it in ``runs``."""
    from tlgeo.config import TrainConfig
    from tlgeo.runs import save_run
    from tlgeo.tasks import load_task
    from tlgeo.train import train

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLGEO_CACHE", str(cache))
        data = load_task(ROADS)
        config = TrainConfig(backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2, batch_size=32)
        result = train(data, config)
        return save_run(result, data.settings, runs, extra={"data": str(ROADS.resolve()), "bins": data.bins}).path


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A runs folder holding one tiny run trained on the sample roads."""
    _need(ROADS)
    runs = tmp_path_factory.mktemp("ui-runs")
    make_tiny_run(runs, tmp_path_factory.getbasetemp() / "tlgeo-cache")
    return runs


@pytest.fixture(autouse=True)
def _no_legacy_pages_mode(monkeypatch):
    """AppTest resets Streamlit's "uses a pages/ folder" flag before every run, so each run would start in the legacy
    multipage mode that only a process's first request sees in a real server (``tlgeo.ui.widgets.context`` reruns
    through ``app.py`` then, which would swallow the button clicks these tests make). Clear the flag as
    ``st.navigation`` does once it has run; the browser test covers the real first request."""
    import streamlit.testing.v1.app_test as app_test
    from streamlit.runtime.pages_manager import PagesManager

    class NavigationPagesManager(PagesManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            PagesManager.uses_pages_directory = False

    monkeypatch.setattr(app_test, "PagesManager", NavigationPagesManager)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """App settings for a test: sample data, an empty runs folder, the test backbone offered."""
    _need(ROADS)
    monkeypatch.setenv(state.SAMPLE_ENV, str(SAMPLE_ROOT))
    monkeypatch.setenv(state.RUNS_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv(state.TEST_BACKBONE_ENV, "1")
    return monkeypatch


@pytest.fixture
def media(monkeypatch):
    """Read what a download button serves: AppTest keeps downloads in an in-memory media store."""
    import streamlit.testing.v1.app_test as app_test

    stores = []

    class Capturing(app_test.MemoryMediaFileStorage):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            stores.append(self)

    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", Capturing)

    def fetch(button):
        """(file name offered, bytes) of a download button."""
        stored = stores[-1].get_file(button.proto.url.rsplit("/", 1)[-1])
        return stored.filename, stored.content

    return fetch


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def button(at: AppTest, label_start: str):
    return next(b for b in at.button if b.label.startswith(label_start))


def tiny_train_form(at: AppTest, strategy: str, **numbers: int) -> None:
    """Fill the Train page's form: the tiny test backbone, ``strategy``, 32 px, 2 folds, and the number inputs
    ``train_<name>`` given as ``numbers``."""
    at.selectbox(key="train_backbone").set_value("tiny_cnn")
    at.selectbox(key="train_strategy").set_value(strategy)
    at.select_slider(key="train_img_size").set_value(32)
    at.number_input(key="train_folds").set_value(2)
    for name, value in numbers.items():
        at.number_input(key=f"train_{name}").set_value(value)


def tiny_compare_form(at: AppTest, strategies: list[str], **numbers: int) -> None:
    """Fill the Compare page's form: ``strategies`` on the tiny test backbone, 32 px, 2 folds, and the number
    inputs ``compare_<name>`` given as ``numbers``."""
    at.multiselect(key="compare_strategies").set_value(strategies)
    at.selectbox(key="compare_backbone").set_value("tiny_cnn")
    at.select_slider(key="compare_img_size").set_value(32)
    at.number_input(key="compare_folds").set_value(2)
    for name, value in numbers.items():
        at.number_input(key=f"compare_{name}").set_value(value)


def downloads(at: AppTest, media) -> dict[str, bytes]:
    """Extension of the offered file name → its bytes, for every download button."""
    files = dict(media(b) for b in at.get("download_button"))
    return {name.rsplit(".", 1)[-1]: data for name, data in files.items()}


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def tile_bytes(scene: Path, col: int, row: int, size: int = 64) -> bytes:
    """One window of a sample scene as a GeoTIFF file (in memory)."""
    with rasterio.open(scene) as src:
        win = Window(col, row, size, size)
        profile = {**src.profile, "width": size, "height": size, "transform": src.window_transform(win)}
        profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.update(tiled=False)
        data = src.read(window=win)
    with rasterio.MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data)
        return mem.read()


def scene_path() -> Path:
    return sorted((ROADS / "imagery").glob("*.tif"))[0]


def png_with_world_file(scene: Path, stem: str, col: int = 640, row: int = 320, size: int = 64) -> list:
    """A window of a scene as PNG + world file (.pgw) + .prj, as three uploads."""
    with rasterio.open(scene) as src:
        win = Window(col, row, size, size)
        data = src.read([1, 2, 3], window=win)
        t = src.window_transform(win)
        wkt = src.crs.to_wkt()
    png = io.BytesIO()
    Image.fromarray(np.moveaxis(data, 0, -1)).save(png, format="PNG")
    world = "\n".join(str(v) for v in (t.a, t.d, t.b, t.e, t.c + t.a / 2, t.f + t.e / 2)) + "\n"
    return [
        (f"{stem}.png", png.getvalue(), "image/png"),
        (f"{stem}.pgw", world.encode(), "application/octet-stream"),
        (f"{stem}.prj", wkt.encode(), "application/octet-stream"),
    ]


# --------------------------------------------------------------------------------------------- Data
def test_app_opens_on_the_sample_data(env):
    at = ok(open_app())
    assert at.title[0].value == "Data"
    assert int(metric(at, "Labelled tiles").replace(",", "")) > 0
    assert int(metric(at, "Unlabelled (to predict)").replace(",", "")) > 0
    assert len(at.get("plotly_chart")) == 2 and len(at.get("image")) >= 2  # map, class balance; gallery
    assert any("dropped" in m.value for m in at.markdown)  # the report of what was dropped and why
    at.radio(key="data_map_layer").set_value("Labelled tiles").run()
    ok(at)
    at.radio(key="data_map_layer").set_value("Drive tracks by roughness").run()
    ok(at)
    at.toggle(key=state.BASEMAP).set_value(True).run()
    assert json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["map"]["style"] == "open-street-map"


def test_data_page_on_uploaded_files(env):
    at = ok(open_app())
    at.radio(key=state.SOURCE).set_value(state.UPLOADED).run()
    ok(at)
    assert any("Upload imagery and labels" in i.value for i in at.info)
    scenes = [(p.name, p.read_bytes(), "image/tiff") for p in sorted((ROADS / "imagery").glob("*.tif"))]
    log = next((ROADS / "vibration").glob("roadrunner_*.csv"))
    at.file_uploader(key=state.UPLOAD_IMAGERY).set_value(scenes)
    at.file_uploader(key=state.UPLOAD_LABELS).set_value((f"../../{log.name}", log.read_bytes(), "text/csv"))
    at.run()
    ok(at)
    assert metric(at, "Scenes") == "2" and int(metric(at, "Labelled tiles").replace(",", "")) > 0
    # a file that only claims to be a GeoTIFF is an error with the fix, not a traceback
    at.file_uploader(key=state.UPLOAD_IMAGERY).set_value([*scenes, ("broken.tif", b"not a raster", "image/tiff")])
    at.run()
    assert not at.exception
    assert any("broken.tif" in e.value and "not a readable raster" in e.value for e in at.error)
    at.file_uploader(key=state.UPLOAD_IMAGERY).set_value(scenes).run()
    ok(at)
    # leaving the page empties Streamlit's uploaders, but the session keeps the files
    at.switch_page("pages/train.py").run()
    ok(at)
    at.switch_page("pages/data.py").run()
    ok(at)
    assert metric(at, "Scenes") == "2"
    button(at, "Remove uploaded files").click().run()
    assert any("Upload imagery and labels" in i.value for i in at.info)


def test_villages_data_page(env):
    _need(VILLAGES)
    at = ok(open_app())
    at.selectbox(key=state.TASK).set_value("villages").run()
    ok(at)
    assert int(metric(at, "Villages").replace(",", "")) > 0
    at.radio(key="data_map_layer_v").set_value("Labelled tiles").run()
    ok(at)


# --------------------------------------------------------------------------------------------- Train / Compare
def test_train_page_trains_and_saves_a_tiny_run(env, tmp_path):
    at = ok(open_app("train"))
    assert any("Advisor" in i.value for i in at.info)
    labels = at.selectbox(key="train_backbone").options
    assert any("efficientnet_lite0" in o and "offline" in o for o in labels)
    tiny_train_form(at, "fine_tune_top", epochs=1, head_epochs=2)
    button(at, "Train and save").click().run()
    ok(at)
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1 and (runs[0] / "model.keras").is_file()
    assert any(runs[0].name in s.value for s in at.success)
    assert at.sidebar.selectbox(key=state.RUN).value == runs[0].name  # the new run is the active one
    assert at.get("plotly_chart")  # learning curves of the saved run


def test_compare_page_runs_two_strategies_on_the_same_folds(env):
    at = ok(open_app("compare"))
    tiny_compare_form(at, ["scratch", "frozen_head"], epochs=1)
    button(at, "Compare").click().run()
    ok(at)
    table = next(d.value for d in at.dataframe if "backbone" in d.value.columns)
    assert list(table["strategy"]) == ["scratch", "frozen_head"]
    assert table["accuracy"].str.contains("±").all()
    assert len(at.get("plotly_chart")) >= 4  # bars, mean curves, one tab of curves per strategy
    assert any("scores best" in i.value for i in at.info)


# --------------------------------------------------------------------------------------------- Evaluate
def test_evaluate_page_shows_the_run(env, tiny_run):
    env.setenv(state.RUNS_ENV, str(tiny_run))
    at = ok(open_app("evaluate"))
    assert "±" in metric(at, "accuracy")
    per_class = at.dataframe[0].value
    assert list(per_class["class"]) == ["good", "fair", "poor"]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    kinds = {t["type"] for c in charts for t in c["data"]}
    assert {"heatmap", "choroplethmap"} <= kinds  # confusion matrix, errors and folds maps (tile footprints)
    assert all(c["layout"]["map"]["style"] == "white-bg" for c in charts if "map" in c["layout"])


def test_pages_without_a_run_say_what_to_do(env):
    for page in ("evaluate", "predict"):
        at = ok(open_app(page))
        assert any("Train one on the" in i.value for i in at.info)


# --------------------------------------------------------------------------------------------- Predict
def test_predict_uploaded_tiles_and_download_geojson(env, tiny_run, media):
    env.setenv(state.RUNS_ENV, str(tiny_run))
    scene = sorted((ROADS / "imagery").glob("*.tif"))[0]
    at = ok(open_app("predict"))
    tiles = [
        ("my tile (1).tif", tile_bytes(scene, 0, 0), "image/tiff"),
        ("other.tif", tile_bytes(scene, 640, 320), "image/tiff"),
    ]
    at.file_uploader(key=state.PREDICT_UPLOAD).set_value(tiles).run()
    ok(at)
    button(at, "Predict 2 uploaded").click().run()
    ok(at)
    files = downloads(at, media)
    assert set(files) == {"geojson", "csv"}
    gdf = gpd.read_file(io.BytesIO(files["geojson"]))
    assert len(gdf) == 2 and gdf.crs.to_epsg() == 4326
    assert {"tile_id", "label", "class_index", "prob_good", "prob_fair", "prob_poor", "run_id"} <= set(gdf.columns)
    assert set(gdf["tile_id"]) == {"my_tile_1", "other"}  # upload names were sanitised before use
    np.testing.assert_allclose(gdf[["prob_good", "prob_fair", "prob_poor"]].sum(axis=1), 1.0, rtol=1e-4)
    assert files["csv"].startswith(b"tile_id")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["map"]["style"] == "white-bg"


def test_predict_a_scene_offers_geotiff_and_roads(env, tiny_run, media):
    env.setenv(state.RUNS_ENV, str(tiny_run))
    at = ok(open_app("predict"))
    at.radio(key=state.PREDICT_MODE).set_value("A scene of the current data").run()
    button(at, "Predict ").click().run()
    ok(at)
    files = downloads(at, media)
    assert set(files) == {"geojson", "csv", "tif"}
    with rasterio.MemoryFile(files["tif"]) as mem, mem.open() as ds:
        assert ds.count == 4 and ds.crs is not None  # class index + 3 probabilities
    at.toggle(key="predict_roads").set_value(True).run()
    ok(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["type"] for t in spec["data"]} == {"scattermap"} and spec["layout"]["legend"]["title"]["text"]


def test_predict_bad_uploads_are_errors_not_tracebacks(env, tiny_run):
    env.setenv(state.RUNS_ENV, str(tiny_run))
    at = ok(open_app("predict"))
    png = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(png, format="PNG")
    at.file_uploader(key=state.PREDICT_UPLOAD).set_value(("tile.png", png.getvalue(), "image/png")).run()
    assert not at.exception
    assert any("tile.png has no world file" in e.value and "tile.pgw" in e.value for e in at.error)
    # with its world file and .prj (names sanitised alike) the PNG is georeferenced and predicted
    at.file_uploader(key=state.PREDICT_UPLOAD).set_value(png_with_world_file(scene_path(), "scene crop")).run()
    button(at, "Predict 1 uploaded").click().run()
    ok(at)
    assert any("1 tiles predicted" in m.value for m in at.markdown)
    # a 4-band uint16 tile does not fit an 8-bit RGB run: the message names the file and the fix
    data = np.zeros((4, 64, 64), np.uint16)
    with rasterio.MemoryFile() as mem:
        with mem.open(
            driver="GTiff",
            width=64,
            height=64,
            count=4,
            dtype="uint16",
            crs="EPSG:32737",
            transform=rasterio.transform.from_origin(257000, 9858000, 0.5, 0.5),
        ) as dst:
            dst.write(data)
        raw = mem.read()
    at.file_uploader(key=state.PREDICT_UPLOAD).set_value(("wide.tif", raw, "image/tiff")).run()
    button(at, "Predict 1 uploaded").click().run()
    assert not at.exception
    assert any("wide.tif" in e.value for e in at.error)


# --------------------------------------------------------------------------------------------- villages (multi-task)
def test_multitask_run_evaluate_and_predict(env, tmp_path, media):
    """A villages-like run (two targets) made in code: Evaluate falls back to tile centres (its data folder has no
    imagery/), Predict shows one target at a time with per-target probabilities in the GeoJSON."""
    from tests.conftest import make_task_data
    from tlgeo.config import TrainConfig
    from tlgeo.runs import save_run
    from tlgeo.train import train

    task = make_task_data(tmp_path, multi=True)
    config = TrainConfig(backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2)
    save_run(train(task, config), task.settings, tmp_path / "runs", extra={"data": str(tmp_path)})
    at = open_app()
    at.selectbox(key=state.TASK).set_value("villages").run()
    assert not at.exception  # (the sample may lack villages: that is an st.error with the command to make it)
    at.switch_page("pages/evaluate.py").run()
    ok(at)
    assert at.selectbox(key="evaluate_target").options == ["A — A", "B — B"]
    at.selectbox(key="evaluate_target").set_value("B").run()
    ok(at)
    assert list(at.dataframe[0].value["class"]) == ["0", "1"]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert any(t["type"] == "scattermap" for c in charts for t in c["data"])  # folds/errors at tile centres
    at.switch_page("pages/predict.py").run()
    scene = tmp_path / "scene.tif"
    tile = ("village tile.tif", tile_bytes(scene, 0, 0, size=32), "image/tiff")
    at.file_uploader(key=state.PREDICT_UPLOAD).set_value(tile).run()
    button(at, "Predict 1 uploaded").click().run()
    ok(at)
    at.selectbox(key="predict_target").set_value("B").run()
    ok(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [t["name"] for t in spec["data"]] in (["0"], ["1"])
    gdf = gpd.read_file(io.BytesIO(downloads(at, media)["geojson"]))
    assert {"A_label", "A_prob_2", "B_label", "B_prob_1"} <= set(gdf.columns)


# --------------------------------------------------------------------------------------------- uploads
class _Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size = name, data, len(data)

    def getvalue(self) -> bytes:
        return self._data


def test_upload_names_are_sanitised_and_checked(tmp_path, monkeypatch):
    from tlgeo.errors import DataFileError, GeoreferenceError
    from tlgeo.ui import uploads

    assert uploads.safe_filename("../../etc/passwd.tif", ["tif"]) == "passwd.tif"
    assert uploads.safe_filename("C:\\\\Users\\\\x\\\\Scène 1 (2).TIF", ["tif"]) == "Scene_1_2.tif"
    assert uploads.safe_filename("log.CSV.gz", ["csv", "gz"]) == "log.csv.gz"
    assert uploads.safe_filename(".hidden.png", ["png"]) == "hidden.png"
    with pytest.raises(DataFileError, match=r"'evil\.exe' is not an accepted file type"):
        uploads.safe_filename("evil.exe", uploads.TILE_TYPES)
    saved = uploads.sync_uploads([_Upload("../a b.tif", b"x"), _Upload("c.pgw", b"y")], tmp_path / "up", ["tif", "pgw"])
    assert [p.name for p in saved] == ["a_b.tif", "c.pgw"] and all(p.parent == tmp_path / "up" for p in saved)
    mtime = saved[0].stat().st_mtime_ns
    uploads.sync_uploads([_Upload("a b.tif", b"x")], tmp_path / "up", ["tif"])  # unchanged: not rewritten
    assert saved[0].stat().st_mtime_ns == mtime and not (tmp_path / "up" / "c.pgw").exists()  # removed: deleted
    with pytest.raises(DataFileError, match=r"both saved as 'a_b\.tif'"):
        uploads.sync_uploads([_Upload("a b.tif", b"x"), _Upload("a?b.tif", b"y")], tmp_path / "up", ["tif"])
    monkeypatch.setattr(uploads, "MAX_UPLOAD_MB", 0.001)
    with pytest.raises(DataFileError, match=r"over the 0\.001 MB limit"):
        uploads.save_upload(_Upload("big.tif", b"0" * 5000), tmp_path, ["tif"])
    with pytest.raises(DataFileError, match="empty"):
        uploads.save_upload(_Upload("none.tif", b""), tmp_path, ["tif"])
    png = tmp_path / "t.png"
    png.write_bytes(b"png")
    with pytest.raises(GeoreferenceError, match=r"t.png has no world file.*t.pgw"):
        uploads.rasters_with_world_files([png])
    (tmp_path / "t.pgw").write_text("1\n0\n0\n-1\n0\n0\n")
    assert uploads.rasters_with_world_files([png, tmp_path / "t.pgw"]) == [png]


def test_label_file_with_wrong_columns_is_an_error(env):
    at = ok(open_app())
    at.radio(key=state.SOURCE).set_value(state.UPLOADED).run()
    scene = sorted((ROADS / "imagery").glob("*.tif"))[0]
    at.file_uploader(key=state.UPLOAD_IMAGERY).set_value((scene.name, scene.read_bytes(), "image/tiff"))
    at.file_uploader(key=state.UPLOAD_LABELS).set_value(("drive.csv", b"when,where,shake\n1,2,3\n", "text/csv"))
    at.run()
    assert not at.exception
    assert any("drive.csv" in e.value and "RoadRunner" in e.value for e in at.error)


# --------------------------------------------------------------------------------------------- Plan
def test_plan_page_drives_within_budget_sites_and_downloads(env, tiny_run, media):
    from tlgeo.plan_roads import read_gpx

    env.setenv(state.RUNS_ENV, str(tiny_run))
    at = ok(open_app("plan"))
    button(at, "Score the run's tiles").click().run()
    ok(at)
    at.number_input(key="tlgeo_plan_budget_km").set_value(1.0).run()
    ok(at)
    table = at.dataframe[0].value
    assert len(table) >= 1 and table["length_km"].sum() <= 1.0
    assert list(table["order"]) == list(range(1, len(table) + 1))
    files = downloads(at, media)
    assert set(files) == {"geojson", "csv", "gpx"}
    gdf = gpd.read_file(io.BytesIO(files["geojson"]))
    assert gdf.crs.to_epsg() == 4326 and list(gdf["stretch_id"]) == list(table["stretch_id"])
    assert len(read_gpx(files["gpx"])["trk"]) == len(table)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["map"]["style"] == "white-bg"
    assert any(t["name"].startswith("1. ") for t in spec["data"])  # the first stretch to drive
    layers = spec["layout"]["map"]["layers"]  # the imagery, offline, under the vectors
    assert layers and all(
        x["sourcetype"] == "image" and x["source"].startswith(("data:image/png", "data:image/jpeg")) for x in layers
    )
    at.text_input(key="tlgeo_plan_start").set_value("0,0").run()
    assert not at.exception and any("outside the data" in e.value for e in at.error)
    at.text_input(key="tlgeo_plan_start").set_value("").run()
    at.radio(key="plan_kind").set_value("sites").run()
    ok(at)
    sites = at.dataframe[0].value
    assert len(sites) == 20 and list(sites["rank"]) == list(range(1, 21))
    assert set(downloads(at, media)) == {"geojson", "csv"}
