"""The dashboard for your own labels and any bands (task ``classes``): the landcover sample through Data, Train,
Evaluate and Predict; an uploaded GeoPackage + 4-band 16-bit GeoTIFF with the column, bands and scaling chosen and
written to ``tlgeo.toml``; bad labels uploads as one ``st.error``. Plus the pieces underneath: settings written as
TOML and read back unchanged, labels uploads (zip, Shapefile parts), the composite preview, the labels map colours.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pytest
from rasterio.transform import from_origin
from shapely.geometry import Point

from tests.conftest import write_geotiff
from tests.test_ui_pages import SAMPLE_ROOT, _no_legacy_pages_mode, button, env, metric, ok, open_app, tiny_train_form  # noqa: F401
from tlgeo import viz
from tlgeo.config import BandConfig, TaskSettings, TileConfig, load_settings, save_settings, settings_toml
from tlgeo.tasks import get_task
from tlgeo.ui import state, uploads

LANDCOVER = SAMPLE_ROOT / "landcover"
KEY = "_uploaded_classes"


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _captions(at) -> list[str]:
    return [img.caption for el in at.get("image") for img in el.proto.imgs]


def _scene_4band(path):
    """A 4-band uint16 scene, 60 × 80 px at 10 m (UTM 33N): left 'water' (dark, low NIR), right 'forest' (high NIR)."""
    rng = np.random.default_rng(7)
    data = rng.integers(200, 400, size=(4, 60, 80)).astype(np.uint16)
    data[3, :, 40:] += 3000  # NIR
    data[1, :, 40:] += 600
    return write_geotiff(path, data, crs="EPSG:32633", transform=from_origin(500000.0, 4600000.0, 10.0, 10.0))


def _labels_gpkg(path) -> bytes:
    pts, land, code = [], [], []
    for i in range(8):
        for cls, x0 in (("water", 500050.0), ("forest", 500450.0)):
            pts.append(Point(x0 + 30 * (i % 4), 4599900.0 - 100 * (i // 4) - 40 * (i % 2)))
            land.append(cls)
            code.append(1 if cls == "water" else 2)
    pts.append(Point(490000.0, 4590000.0))  # outside the imagery: reported
    land.append("water")
    code.append(1)
    gpd.GeoDataFrame({"landuse": land, "code": code}, geometry=pts, crs="EPSG:32633").to_file(path, driver="GPKG")
    return path.read_bytes()


# --------------------------------------------------------------------------------------------- settings, uploads
def test_settings_are_written_as_toml_and_read_back_unchanged(tmp_path):
    settings = TaskSettings(
        task="classes",
        tiles=TileConfig(
            size=24,
            bands=BandConfig(
                bands=(4, 3, 2), names=("nir", "red", "green"), scaling="fixed", value_range=((0, 3000),) * 3
            ),
        ),
        labels={"file": "labels.gpkg", "column": "land use", "ordered": True, "classes": ["a", "b"]},
    )
    save_settings(tmp_path, settings)
    text = (tmp_path / "tlgeo.toml").read_text()
    assert 'task = "classes"' in text and "[tiles.bands]" in text and '"land use"' in text
    assert load_settings(tmp_path) == settings
    assert settings_toml(load_settings(LANDCOVER)).count("\n") < 15  # defaults are not written out
    with pytest.raises(Exception, match="cannot be saved"):
        settings_toml(replace(settings, labels={"column": "x", "chip_m": float("nan")}))


class _Up:
    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size = name, data, len(data)

    def getvalue(self) -> bytes:
        return self._data


def test_labels_uploads_gpkg_zip_and_shapefile_parts(tmp_path):
    from tlgeo.errors import DataFileError

    src = tmp_path / "src"
    src.mkdir()
    gdf = gpd.GeoDataFrame({"cls": ["a", "b"]}, geometry=[Point(0, 0), Point(1, 1)], crs="EPSG:4326")
    gdf.to_file(src / "pts.shp")
    parts = {p.suffix: p.read_bytes() for p in src.glob("pts.*")}
    out = tmp_path / "task"
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w") as z:
        for suffix, data in parts.items():
            z.writestr(f"folder/pts{suffix}", data)
        z.writestr("folder/pts_other.dbf", b"junk")  # a neighbour with a longer name is not a part
    path = uploads.save_labels(_Up("my labels.zip", blob.getvalue()), out)
    assert path.name == "labels.shp" and list(gpd.read_file(path)["cls"]) == ["a", "b"]
    assert uploads.labels_file(out) == path
    gdf.to_file(src / "l.gpkg", driver="GPKG")
    path = uploads.save_labels([_Up("l.gpkg", (src / "l.gpkg").read_bytes())], out)
    assert path.name == "labels.gpkg" and sorted(p.name for p in out.iterdir()) == ["labels.gpkg"]  # shp removed
    path = uploads.save_labels([_Up(f"pts{s}", d) for s, d in parts.items()], out)
    assert path.name == "labels.shp" and len(gpd.read_file(path)) == 2
    with pytest.raises(DataFileError, match=r"lacks its \.shx"):
        uploads.save_labels([_Up("pts.shp", parts[".shp"]), _Up("pts.dbf", parts[".dbf"])], out)
    with pytest.raises(DataFileError, match="one labels file at a time"):
        uploads.save_labels([_Up("a.gpkg", b"x"), _Up("b.csv", b"y")], out)
    with pytest.raises(DataFileError, match="not a readable zip"):
        uploads.save_labels(_Up("l.zip", b"not a zip"), out)


def test_scene_preview_and_labels_map_colours(tmp_path):
    from tlgeo.tiles import band_descriptions, scene_preview

    scene = _scene_4band(tmp_path / "s.tif")
    rgb = scene_preview(scene, BandConfig(bands=(4, 2, 1), names=("red", "green", "blue"), scaling="percentile"))
    assert rgb.shape == (288, 384, 3) and rgb.dtype == np.uint8  # aspect kept (60 × 80 px)
    assert rgb[:, 200:, 0].mean() > rgb[:, :180, 0].mean() + 100  # NIR as red: the forest half is bright
    assert band_descriptions(scene) == ["", "", "", ""]
    labels = gpd.GeoDataFrame(
        {"class_name": ["b", "a", "c"], "v": [0.1, 0.5, 0.9], "status": ["used", "used", "left out"]},
        geometry=[Point(10, 0), Point(10.1, 0), Point(10.2, 0)],
        crs="EPSG:4326",
    )
    fig = viz.labels_map(labels, "class_name", classes=["a", "b", "c"])
    colors = {t.name: t.marker.color for t in fig.data}
    assert colors == {"left out (see report)": viz.MISSING_COLOR, "a": viz.QUALITATIVE[0], "b": viz.QUALITATIVE[1]}
    ramp = viz.labels_map(labels, "class_name", kind="ordered", classes=["a", "b", "c"])
    assert {t.marker.color for t in ramp.data if t.name in "ab"} <= set(viz.LEVEL_COLORS)
    cont = viz.labels_map(labels, "v", kind="continuous")
    assert cont.data[-1].marker.colorscale and list(cont.data[-1].marker.color) == [0.1, 0.5]


# --------------------------------------------------------------------------------------------- pages
@pytest.mark.usefixtures("env")
def test_classes_on_the_landcover_sample_through_every_page():
    if not (LANDCOVER / "imagery").is_dir():
        pytest.skip("the landcover sample is missing")
    at = ok(open_app())
    assert get_task("classes").title in at.sidebar.selectbox(key=state.TASK).options  # from the registry
    at.selectbox(key=state.TASK).set_value("classes").run()
    ok(at)
    column = next(s for s in at.selectbox if s.label == "Class column")
    assert column.value == "class" and column.disabled  # the sample's settings: shown, not changed
    bands = next(m for m in at.multiselect if m.label.startswith("Bands"))
    assert bands.value == [1, 2, 3, 4, 5, 6] and "4 · nir" in bands.options
    assert [s.value for s in at.selectbox if s.label.startswith("Preview")] == [3, 2, 1]  # red, green, blue by name
    assert any(c.startswith("scene.tif: R=3 (red), G=2 (green), B=1 (blue)") for c in _captions(at))  # preview
    assert metric(at, "Labelled tiles") == "472" and metric(at, "Labels") == "482"
    assert any("outside all imagery" in m.value for m in at.markdown)  # the report lines
    spec = _charts(at)[0]
    classes = [
        t["name"]
        for t in spec["data"]
        if t["type"] == "scattermap" and t["name"] not in ("left out (see report)", "scene footprint")
    ]
    assert "water" in classes and all(
        t["marker"]["color"] in viz.QUALITATIVE for t in spec["data"] if t.get("name") in classes
    )
    # Train (tiny backbone), Evaluate, Predict
    at.switch_page("pages/train.py").run()
    tiny_train_form(at, "features_linear")
    button(at, "Train and save").click().run()
    ok(at)
    assert "balanced accuracy" in [m.label for m in at.metric] and "within one" not in [m.label for m in at.metric]
    at.switch_page("pages/evaluate.py").run()
    ok(at)
    assert list(at.dataframe[0].value["class"]) == sorted(classes)
    assert _charts(at)[0]["data"][0]["type"] == "heatmap"
    at.switch_page("pages/predict.py").run()
    at.radio(key=state.PREDICT_MODE).set_value("A scene of the current data").run()
    button(at, "Predict ").click().run()
    ok(at)
    predicted = _charts(at)[0]["data"]
    assert {t["name"] for t in predicted} <= set(classes) | {"no prediction"} and len(predicted) >= 2
    assert all(t["marker"]["color"] in viz.QUALITATIVE for t in predicted if "marker" in t and "color" in t["marker"])


@pytest.mark.usefixtures("env")
def test_upload_gpkg_and_4band_uint16_choose_column_bands_and_preview(tmp_path):
    scene = _scene_4band(tmp_path / "four band.tif")
    gpkg = _labels_gpkg(tmp_path / "points.gpkg")
    at = ok(open_app())
    at.selectbox(key=state.TASK).set_value("classes").run()
    at.radio(key=state.SOURCE).set_value(state.UPLOADED).run()
    ok(at)
    at.file_uploader(key=state.UPLOAD_IMAGERY).set_value([(scene.name, scene.read_bytes(), "image/tiff")])
    at.file_uploader(key=state.UPLOAD_LABELS).set_value([("points.gpkg", gpkg, "application/geopackage+sqlite3")])
    at.run()
    assert not at.exception
    column = next(s for s in at.selectbox if s.label == "Class column")
    assert column.options == ["landuse", "code"] and not column.disabled
    column.set_value("landuse")
    at.multiselect(key=f"{state.LABEL_BANDS}{KEY}").set_value([4, 3, 2])
    at.selectbox(key=f"{state.LABEL_SCALING}{KEY}").set_value("percentile")
    at.number_input(key=f"{state.LABEL_CHIP}{KEY}").set_value(16)
    at.run()
    ok(at)
    taskdir = next((p for p in state_dirs(at)), None)
    saved = load_settings(taskdir)
    assert saved.task == "classes" and saved.labels == {"file": "labels.gpkg", "column": "landuse"}
    assert saved.tiles.size == 16 and saved.tiles.bands.bands == (4, 3, 2)
    assert saved.tiles.bands.scaling == "percentile"
    assert metric(at, "Labelled tiles") == "16"
    assert any("1 label outside all imagery" in m.value for m in at.markdown)
    assert any(c.startswith("four_band.tif: R=4, G=3, B=2, percentile") for c in _captions(at))  # the preview
    preview = [s.value for s in at.selectbox if s.label.startswith("Preview")]
    assert preview == [4, 3, 2]
    # a numeric class column works too (integers as classes)
    next(s for s in at.selectbox if s.label == "Class column").set_value("code").run()
    ok(at)
    assert load_settings(taskdir).labels["column"] == "code"


def state_dirs(at):
    """The session's upload folder of the classes task."""
    from pathlib import Path

    root = Path(at.session_state[state.SESSION_DIR])
    yield root / "tasks" / "classes"


@pytest.mark.usefixtures("env")
def test_bad_labels_uploads_are_one_line_errors(tmp_path):
    scene = _scene_4band(tmp_path / "s.tif")
    at = ok(open_app())
    at.selectbox(key=state.TASK).set_value("classes").run()
    at.radio(key=state.SOURCE).set_value(state.UPLOADED).run()
    at.file_uploader(key=state.UPLOAD_IMAGERY).set_value([(scene.name, scene.read_bytes(), "image/tiff")])
    at.file_uploader(key=state.UPLOAD_LABELS).set_value([("labels.gpkg", b"not a geopackage", "application/x")])
    at.run()
    assert not at.exception
    assert any("labels.gpkg is not a readable labels file" in e.value for e in at.error)
    at.file_uploader(key=state.UPLOAD_LABELS).set_value([("pts.shp", b"x" * 100, "application/octet-stream")])
    at.run()
    assert not at.exception
    assert any("lacks its .shx, .dbf" in e.value for e in at.error)
    csv = b"lat,lon,landuse\n40.0,15.0,water\n"
    at.file_uploader(key=state.UPLOAD_LABELS).set_value([("pts.csv", csv, "text/csv")]).run()
    assert not at.exception
    assert [e.value for e in at.error] and all("Traceback" not in e.value for e in at.error)


def test_metrics_shown_follow_the_target_kind():
    import pandas as pd

    from tlgeo.ui import widgets

    assert widgets.summary_metrics("ordered")[-1] == "within_one"
    assert "within_one" not in widgets.summary_metrics("categorical")
    assert widgets.summary_metrics("continuous") == ("r2", "mae", "rmse", "spearman")
    assert widgets.target_kind("roads") == "ordered"
    assert widgets.target_kind("classes", ordered=False) == "categorical"
    assert widgets.target_kind("classes", True, {"share": []}) == "continuous"  # no classes: a regression target
    table = pd.DataFrame(
        {"strategy": ["a"], "backbone": ["b"], "folds": [2], "r2": [0.5], "r2_sd": [0.1], "accuracy": [0.9]}
    )
    shown = widgets.metrics_table(table, "continuous")
    assert list(shown.columns) == ["strategy", "backbone", "folds", "r2"] and shown["r2"].iloc[0].startswith("0.5")
