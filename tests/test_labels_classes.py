"""Task ``classes``: labels from any vector file → chips centred on each label (fixtures built in code).

The fixture differs from the bundled landcover sample on purpose: a 4-band uint16 scene in UTM 36S at 5 m with a
nodata strip on its left edge, a second 3-band uint8 scene in another CRS, integer and text classes.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, box

from tests.conftest import write_geotiff
from tlgeo.cli import main
from tlgeo.config import BandConfig, TaskSettings, TileConfig
from tlgeo.errors import ConfigError, DataFileError, LabelError
from tlgeo.tasks import load_task
from tlgeo.tasks.chips import label_points, read_class_labels
from tlgeo.tiles import read_tile

CRS = "EPSG:32736"
X0, Y0, RES = 600_000.0, 9_100_000.0, 5.0
W, H = 128, 96
BANDS = BandConfig(bands=(3, 2, 1), scaling="percentile")


def _xy(col: float, row: float) -> tuple[float, float]:
    return X0 + col * RES, Y0 - row * RES


def make_scene(folder: Path, seed: int = 0) -> Path:
    """Top half dark (forest), bottom half bright (field); columns 0–5 are nodata."""
    rng = np.random.default_rng(seed)
    data = np.empty((4, H, W), np.uint16)
    top = rng.normal(600, 80, (4, H // 2, W))
    bottom = rng.normal(2600, 150, (4, H // 2, W))
    data[:] = np.clip(np.concatenate([top, bottom], axis=1), 1, 60000).astype(np.uint16)
    data[:, :, :6] = 0
    (folder / "imagery").mkdir(parents=True, exist_ok=True)
    return write_geotiff(
        folder / "imagery" / "scene.tif", data, crs=CRS, transform=from_origin(X0, Y0, RES, RES), nodata=0
    )


def labels_frame() -> gpd.GeoDataFrame:
    """14 points: 7 'forest' (top), 7 'field' (bottom); two of each share one 64-px cell; one on nodata; one outside."""
    pts, cls = [], []
    for i in range(6):
        pts.append(Point(*_xy(20 + 15 * i + 0.5, 20.5)))
        cls.append("forest")
        pts.append(Point(*_xy(20 + 15 * i + 0.5, 70.5)))
        cls.append("field")
    pts += [Point(*_xy(2.5, 30.5)), Point(*_xy(400, 30))]  # on nodata; outside the scene
    cls += ["forest", "field"]
    pts += [Point(*_xy(30.5, 25.5)), Point(*_xy(36.5, 75.5))]  # same 64-px cell as the points at col 35
    cls += ["forest", "field"]
    return gpd.GeoDataFrame({"id": [f"L{i:02d}" for i in range(len(pts))], "class": cls}, geometry=pts, crs=CRS)


def make_task(folder: Path, labels: gpd.GeoDataFrame | None = None, name: str = "labels.gpkg", **label_settings):
    make_scene(folder)
    labels = labels_frame() if labels is None else labels
    if name.endswith(".csv"):
        labels.drop(columns="geometry").to_csv(folder / name, index=False)
    else:
        labels.to_file(folder / name)
    table = {"file": name, "column": "class", "min_class_samples": 2, **label_settings}
    return TaskSettings(task="classes", tiles=TileConfig(size=16, bands=BANDS), labels=table)


# --------------------------------------------------------------------------------------------- formats
@pytest.mark.parametrize("name", ["labels.gpkg", "labels.geojson", "labels.shp", "labels.fgb"])
def test_every_vector_format_gives_the_same_chips(tmp_path, name):
    settings = make_task(tmp_path, name=name)
    data = load_task(tmp_path, settings=settings)
    assert data.task == "classes" and data.targets == {"class": ["field", "forest"]}
    assert len(data.tiles) == 14 and data.ordered == {"class": False}
    assert data.tiles.crs.to_epsg() == 32736
    assert set(data.tiles["window"].map(lambda w: w[2:])) == {(16, 16)}
    forest = data.tiles[data.tiles["class_name"] == "forest"]
    assert (forest["class"] == 1).all() and (forest["row"] < H // 2).all()


@pytest.mark.parametrize("coords", ["latlon", "xy"])
def test_csv_with_lat_lon_or_x_y_and_crs(tmp_path, coords):
    frame = labels_frame()
    if coords == "latlon":
        ll = frame.to_crs(4326)
        frame["lat"], frame["lon"] = ll.geometry.y, ll.geometry.x
        extra = {}
    else:
        frame["x"], frame["y"] = frame.geometry.x, frame.geometry.y
        extra = {"crs": CRS}
    settings = make_task(tmp_path, frame, name="labels.csv", **extra)
    data = load_task(tmp_path, settings=settings)
    reference = load_task(tmp_path / "ref", settings=make_task(tmp_path / "ref"))
    assert sorted(data.tiles["window"]) == sorted(reference.tiles["window"])


def test_csv_with_x_y_and_no_crs_names_the_setting(tmp_path):
    frame = labels_frame()
    frame["x"], frame["y"] = frame.geometry.x, frame.geometry.y
    settings = make_task(tmp_path, frame, name="labels.csv")
    with pytest.raises(ConfigError, match=r"crs = .*\[labels\]"):
        load_task(tmp_path, settings=settings)


def test_integer_and_text_classes(tmp_path):
    frame = labels_frame()
    frame["class"] = np.where(frame["class"] == "forest", 10, 2)
    data = load_task(tmp_path, settings=make_task(tmp_path, frame))
    assert data.targets == {"class": ["2", "10"]}, "integer classes sort as numbers and become text"
    frame["class"] = frame["class"].astype(float)
    data = load_task(tmp_path / "f", settings=make_task(tmp_path / "f", frame))
    assert data.targets == {"class": ["2", "10"]}


# --------------------------------------------------------------------------------------------- geometries
def test_lines_and_polygons_become_chip_centres(tmp_path):
    line = LineString([_xy(20, 20), _xy(60, 20)])
    poly = box(*_xy(70, 90), *_xy(110, 60))
    frame = gpd.GeoDataFrame({"label_id": ["a", "b"], "class_name": ["x", "y"]}, geometry=[line, poly], crs=CRS)
    from tlgeo.tasks.classes import ClassLabelConfig

    pts = label_points(frame, ClassLabelConfig(), chip_m=80.0)
    assert len(pts) == 2
    assert pts.geometry.iloc[0].distance(Point(*_xy(40, 20))) < 1e-6, "line → its midpoint"
    assert poly.contains(pts.geometry.iloc[1])
    grid = label_points(frame, ClassLabelConfig(polygon_chips="grid", grid_spacing_m=50.0), chip_m=80.0)
    inside = grid[grid["label_id"] == "b"]
    assert len(inside) == 12 and all(poly.contains(p) for p in inside.geometry), "200 m × 150 m every 50 m"
    assert sorted(inside["chip"]) == list(range(12))


def test_polygon_grid_chips_through_the_task(tmp_path):
    frame = gpd.GeoDataFrame(
        {"class": ["forest", "field", "forest", "field"]},
        geometry=[
            box(*_xy(20, 40), *_xy(100, 8)),
            box(*_xy(20, 90), *_xy(100, 55)),
            Point(*_xy(110, 20)),
            LineString([_xy(105, 80), _xy(120, 80)]),
        ],
        crs=CRS,
    )
    settings = make_task(tmp_path, frame, polygon_chips="grid", grid_spacing_m=100.0)
    data = load_task(tmp_path, settings=settings)
    assert data.tiles["label_id"].value_counts()["l00000"] > 4, "a large polygon gives several chips"
    assert data.tiles["tile_id"].is_unique
    assert (data.tiles.loc[data.tiles["label_id"] == "l00001", "row"] >= 55).all()


# --------------------------------------------------------------------------------------------- imagery edges
def test_outside_and_nodata_labels_are_reported(tmp_path):
    data = load_task(tmp_path, settings=make_task(tmp_path))
    report = " | ".join(data.report)
    assert "1 label outside all imagery" in report
    assert "1 label with no valid pixel" in report
    assert "14 labels of 16" in report
    assert (data.vectors["status"] == "left out").sum() == 2


def test_edge_chips_are_padded_and_masked(tmp_path):
    frame = gpd.GeoDataFrame(
        {"class": ["forest", "field", "forest", "field"]},
        geometry=[Point(*_xy(20.5, 2.5)), Point(*_xy(125.5, 93.5)), Point(*_xy(50.5, 30.5)), Point(*_xy(60.5, 60.5))],
        crs=CRS,
    )
    data = load_task(tmp_path, settings=make_task(tmp_path, frame, min_class_samples=1))
    top = data.tiles.iloc[int(np.argmin(data.tiles["row"]))]
    assert top["window"] == (12, -6, 16, 16)
    tile = read_tile(top["path"], top["window"], BANDS)
    assert tile.image.shape == (16, 16, 3)
    assert not tile.valid[:6].any() and tile.valid[6:].all(), "rows above the scene are masked"
    assert (tile.image[:6] == 0).all() and tile.image[6:].max() > 0
    corner = data.tiles.iloc[int(np.argmax(data.tiles["row"]))]
    tile = read_tile(corner["path"], corner["window"], BANDS)
    assert tile.valid[:11, :11].all() and not tile.valid[:, 11:].any() and not tile.valid[11:].any()


def test_two_labels_in_one_grid_cell_are_both_kept(tmp_path):
    data = load_task(tmp_path, settings=make_task(tmp_path))
    cells = data.tiles["row"] // 64 * 100 + data.tiles["col"] // 64
    assert cells.value_counts().max() >= 2
    assert data.tiles["label_id"].is_unique and len(data.tiles) == 14


# --------------------------------------------------------------------------------------------- rare classes
def _with_rare(tmp_path: Path, **kw) -> TaskSettings:
    frame = labels_frame()
    frame.loc[0, "class"] = "wetland"
    frame.loc[2, "class"] = "urban"
    return make_task(tmp_path, frame, min_class_samples=3, **kw)


def test_rare_classes_are_refused_by_default_with_the_fix_named(tmp_path):
    with pytest.raises(LabelError, match=r"'urban' \(1\).*rare = \"drop\"") as info:
        load_task(tmp_path, settings=_with_rare(tmp_path))
    assert "min_class_samples" in str(info.value) and "\n" not in str(info.value)


def test_rare_classes_dropped_or_merged(tmp_path):
    dropped = load_task(tmp_path, settings=_with_rare(tmp_path, rare="drop"))
    assert dropped.targets["class"] == ["field", "forest"] and len(dropped.tiles) == 12
    assert any("rare classes dropped" in line and "'wetland' (1)" in line for line in dropped.report)
    merged = load_task(tmp_path / "m", settings=_with_rare(tmp_path / "m", rare="merge"))
    assert merged.targets["class"] == ["field", "forest", "other"] and len(merged.tiles) == 14
    assert (merged.tiles["class"] == 2).sum() == 2
    assert any("merged into 'other'" in line for line in merged.report)


def test_classes_setting_orders_and_filters(tmp_path):
    data = load_task(tmp_path, settings=make_task(tmp_path, classes=["forest", "field"], ordered=True))
    assert data.targets["class"] == ["forest", "field"] and data.ordered == {"class": True}
    assert (data.tiles.loc[data.tiles["class_name"] == "forest", "class"] == 0).all()


# --------------------------------------------------------------------------------------------- bad input
def test_reader_errors_name_the_problem(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        read_class_labels(tmp_path / "nope.gpkg")
    bad = tmp_path / "bad.geojson"
    bad.write_text("{ not json", encoding="utf-8")
    with pytest.raises(DataFileError, match="not a readable vector file"):
        read_class_labels(bad)
    labels_frame().to_file(tmp_path / "ok.gpkg")
    from tlgeo.tasks.classes import ClassLabelConfig

    with pytest.raises(LabelError, match=r"no class column 'klass'; its columns are: id, class"):
        read_class_labels(tmp_path / "ok.gpkg", ClassLabelConfig(column="klass"))


def _cli(tmp_path: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["labels", "classes", "--data", str(tmp_path), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing column", "no class column 'landcover'; its columns are: id, class"),
        ("one class", "holds only one class ('forest')"),
        ("csv x/y without crs", 'Set crs = "EPSG:…" in [labels]'),
        ("missing file", "does not exist"),
        ("unreadable file", "not a readable vector file"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, case, expected):
    make_scene(tmp_path)
    frame = labels_frame()
    labels, column = tmp_path / "labels.gpkg", "class"
    if case == "missing column":
        column = "landcover"
        frame.to_file(labels)
    elif case == "one class":
        frame["class"] = "forest"
        frame.to_file(labels)
    elif case == "csv x/y without crs":
        labels = tmp_path / "labels.csv"
        pd.DataFrame({"x": frame.geometry.x, "y": frame.geometry.y, "class": frame["class"]}).to_csv(labels)
    elif case == "missing file":
        labels = tmp_path / "nope.gpkg"
    else:
        labels = tmp_path / "labels.fgb"
        labels.write_bytes(b"\x00garbage" * 10)
    out = tmp_path / "out" / "chips.geojson"
    code, _, err = _cli(tmp_path, capsys, "--labels", str(labels), "--column", column, "--out", str(out))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert not out.exists() and (not out.parent.exists() or not any(out.parent.iterdir()))


def test_cli_writes_the_chip_index(tmp_path, capsys):
    make_scene(tmp_path)
    labels_frame().to_file(tmp_path / "labels.geojson")
    out = tmp_path / "chips.geojson"
    args = ("--labels", str(tmp_path / "labels.geojson"), "--column", "class", "--out", str(out))
    code, printed, _ = _cli(tmp_path, capsys, *args, "--chip-size", "12", "--min-class-samples", "2")
    assert code == 0 and "1 label outside all imagery" in printed and "wrote" in printed
    chips = gpd.read_file(out)
    assert len(chips) == 14 and chips.crs.to_epsg() == 4326
    assert set(chips["class_name"]) == {"forest", "field"} and set(chips["class"]) == {0, 1}
    assert set(chips["window"].str.split(",").map(lambda w: (int(w[2]), int(w[3])))) == {(12, 12)}
    again, _, err = _cli(tmp_path, capsys, *args)
    assert again == 2 and "already exists" in err


def test_chip_size_in_metres(tmp_path):
    settings = make_task(tmp_path, chip_m=60.0)
    data = load_task(tmp_path, settings=settings)
    assert data.settings.tiles.size == 12, "60 m at 5 m/px"
    assert set(data.tiles["window"].map(lambda w: w[2])) == {12}
    assert json.loads(json.dumps(data.targets)) == {"class": ["field", "forest"]}
    assert shapely.area(data.tiles.geometry.values).max() == pytest.approx(60.0 * 60.0)


def test_labels_on_two_scenes_in_different_crs(tmp_path):
    """A second 3-band uint8 scene in EPSG:4326; chips keep their own scene's pixels, footprints join the index CRS."""
    settings = make_task(tmp_path, chip_m=60.0)
    rng = np.random.default_rng(1)
    write_geotiff(
        tmp_path / "imagery" / "z_geo.tif",
        rng.integers(0, 255, (3, 64, 64), dtype=np.uint8),
        crs="EPSG:4326",
        transform=from_origin(33.0, -8.0, 0.00005, 0.00005),
    )
    extra = gpd.GeoDataFrame(
        {"id": ["G1", "G2"], "class": ["forest", "field"]},
        geometry=[
            Point(33.0 + 20.5 * 0.00005, -8.0 - 20.5 * 0.00005),
            Point(33.0 + 40.5 * 0.00005, -8.0 - 40.5 * 0.00005),
        ],
        crs="EPSG:4326",
    ).to_crs(CRS)
    frame = pd.concat([labels_frame(), extra], ignore_index=True)
    frame.to_file(tmp_path / "labels.gpkg")
    data = load_task(tmp_path, settings=settings)
    geo = data.tiles[data.tiles["source"] == "z_geo"]
    assert len(geo) == 2 and (geo["crs"] == "EPSG:4326").all() and data.tiles.crs.to_epsg() == 32736
    assert set(geo["window"].map(lambda w: w[2])) == {12}, (
        "one chip size in pixels for every scene (60 m at the first scene's 5 m)"
    )
    first = geo.iloc[0]
    assert first["window"][:2] == (20 - 6, 20 - 6)
    tile = read_tile(first["path"], first["window"], BANDS)
    assert tile.valid.all() and tile.image.shape == (12, 12, 3)


def test_duplicate_label_ids_are_refused(tmp_path):
    frame = labels_frame()
    frame.loc[3, "id"] = frame.loc[2, "id"]
    settings = make_task(tmp_path, frame, id_column="id")
    with pytest.raises(LabelError, match="id column 'id' holds 'L02' more than once"):
        load_task(tmp_path, settings=settings)
