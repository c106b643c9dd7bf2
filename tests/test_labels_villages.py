"""tlgeo.labels.villages: indicators (levels or fractions) → villages joined to tiles → masked multi-task targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from tests.conftest import ROOT, write_geotiff
from tlgeo.config import DEFAULT_INDICATORS, TaskSettings, VillageLabelConfig
from tlgeo.errors import ConfigError, DataFileError, GeoreferenceError, LabelError
from tlgeo.labels.villages import indicator_levels, read_villages
from tlgeo.tasks import load_task

CRS = 32645  # UTM 45N (Bihar)
X0, Y0 = 500_000.0, 2_800_000.0  # top-left corner of the scene
RES, SIZE, TILE = 10.0, 256, 64  # 2.56 km scene, 640-m tiles: 4 × 4
TO_LONLAT = Transformer.from_crs(CRS, 4326, always_xy=True)


def tile_centre(row: int, col: int, dx: float = 0.0, dy: float = 0.0) -> tuple[float, float]:
    """(lon, lat) of the centre of tile (row, col), shifted by dx, dy metres."""
    x = X0 + (col + 0.5) * TILE * RES + dx
    y = Y0 - (row + 0.5) * TILE * RES + dy
    lon, lat = TO_LONLAT.transform(x, y)
    return float(lon), float(lat)


def make_task(tmp_path: Path, villages: pd.DataFrame | None = None, name: str = "villages.csv") -> Path:
    task = tmp_path / "task"
    (task / "imagery").mkdir(parents=True)
    data = np.full((3, SIZE, SIZE), 90, dtype=np.uint8)
    write_geotiff(task / "imagery" / "scene.tif", data, crs=f"EPSG:{CRS}", transform=from_origin(X0, Y0, RES, RES))
    (task / "tlgeo.toml").write_text('task = "villages"\n[tiles]\nsize = 64\n')
    truth = task / "truth"
    truth.mkdir()
    (truth / "villages_truth.csv").write_text("garbage\n")
    if villages is not None:
        villages.to_csv(task / name, index=False)
    return task


def village_table(rng: np.random.Generator | None = None) -> pd.DataFrame:
    """One village at the centre of each of 12 tiles (rows 0–2), levels from the tile position, some missing."""
    rng = rng or np.random.default_rng(0)
    rows = []
    for r in range(3):
        for c in range(4):
            lon, lat = tile_centre(r, c, *rng.uniform(-100, 100, 2))
            rec = {"village_id": f"V{r}{c}", "lat": lat, "lon": lon}
            for k, ind in enumerate(DEFAULT_INDICATORS):
                rec[ind] = (r + c + k) % 3
            rows.append(rec)
    df = pd.DataFrame(rows)
    df.loc[df["village_id"] == "V01", "BF"] = np.nan
    df.loc[df["village_id"] == "V12", ["MSL", "LIT"]] = np.nan
    return df


def tiles_of(task: Path):
    from tlgeo.tiles import tile_index

    return tile_index(task / "imagery", size=TILE)


def test_levels_are_joined_and_missing_values_masked(tmp_path):
    df = village_table()
    task = make_task(tmp_path, df)
    data = load_task(task)
    assert data.task == "villages" and data.multi_task
    assert data.targets == {ind: ["0", "1", "2"] for ind in DEFAULT_INDICATORS}
    t = data.tiles.set_index("tile_id")
    assert len(t) == 16
    for r in range(3):
        for c in range(4):
            row = t.loc[f"scene_r{r:03d}_c{c:03d}"]
            assert row["village_id"] == f"V{r}{c}"
            for k, ind in enumerate(DEFAULT_INDICATORS):
                expected = (r + c + k) % 3
                if (r, c, ind) in {(0, 1, "BF"), (1, 2, "MSL"), (1, 2, "LIT")}:
                    expected = -1
                assert row[ind] == expected, (r, c, ind)
    # masked per task, not a dropped village: the other tasks of V01 keep their labels
    assert t.loc["scene_r000_c001", "ASSET"] == 1
    assert (t.loc[[f"scene_r003_c{c:03d}" for c in range(4)], list(DEFAULT_INDICATORS)] == -1).all().all()
    assert pd.isna(t.loc["scene_r003_c000", "village_id"])
    assert all(t[ind].dtype == np.int64 for ind in DEFAULT_INDICATORS)
    assert len(data.labelled()) == 12 and len(data.unlabelled()) == 4
    assert data.class_counts()["BF"]["0"] + data.class_counts()["BF"]["1"] + data.class_counts()["BF"]["2"] == 11
    assert any("BF: 1 missing value masked for that task only" in r for r in data.report)
    assert any("12 villages joined to 12 tiles of 16" in r for r in data.report)
    assert data.vectors.crs.to_epsg() == 4326
    assert data.vectors["tile_id"].notna().all()
    assert data.bins == {}


def test_fractions_are_binned_into_tertiles_and_bins_reused(tmp_path):
    rng = np.random.default_rng(1)
    df = village_table()
    df["ASSET"] = rng.uniform(0, 1, len(df))
    df.loc[3, "ASSET"] = np.nan
    cfg = VillageLabelConfig()
    levels, bins, report = indicator_levels(df, cfg)
    vals = df["ASSET"].dropna().to_numpy()
    cuts = np.quantile(vals, [1 / 3, 2 / 3])
    assert bins["ASSET"] == pytest.approx(cuts.tolist())
    assert levels.loc[3, "ASSET"] == -1
    np.testing.assert_array_equal(levels["ASSET"].drop(index=3), np.searchsorted(cuts, vals, side="right"))
    assert np.bincount(levels["ASSET"].drop(index=3)).tolist() == [4, 3, 4]
    assert any("fractions binned into 3 levels at ASSET" in r for r in report)
    assert any("integer levels kept: BF" in r for r in report)
    # saved cut points are re-used, so new data lands in the same bins
    saved = VillageLabelConfig(bins={"ASSET": [0.2, 0.9]})
    levels2, bins2, _ = indicator_levels(df, saved)
    assert bins2["ASSET"] == [0.2, 0.9]
    np.testing.assert_array_equal(levels2["ASSET"].drop(index=3), np.searchsorted([0.2, 0.9], vals, side="right"))
    with pytest.raises(ConfigError, match="2 are needed"):
        indicator_levels(df, VillageLabelConfig(bins={"ASSET": [0.5]}))


def test_bad_indicator_values_are_refused():
    df = village_table()
    with pytest.raises(LabelError, match=r"'ASSET' holds values 0.5–87.*Divide percentages by 100"):
        indicator_levels(df.assign(ASSET=np.linspace(0.5, 87, len(df))))
    with pytest.raises(LabelError, match="integers 0–5"):
        indicator_levels(df.assign(BF=np.arange(len(df)) % 6))
    with pytest.raises(LabelError, match="negative"):
        indicator_levels(df.assign(BF=-1))
    with pytest.raises(LabelError, match="non-numeric values such as 'high'"):
        indicator_levels(df.assign(FC="high"))


def test_missing_columns_list_expected_and_found(tmp_path):
    task = make_task(tmp_path, village_table().drop(columns=["LIT", "lon"]))
    with pytest.raises(LabelError) as err:
        load_task(task)
    msg = str(err.value)
    assert "lacks column(s) LIT, lon" in msg
    assert "expected village_id, lat, lon, ASSET" in msg and "found village_id, lat, ASSET" in msg
    # choosing the indicators present works
    (task / "villages.csv").unlink()
    village_table().drop(columns=["LIT"]).to_csv(task / "villages.csv", index=False)
    settings = TaskSettings(task="villages", villages=VillageLabelConfig(indicators=("ASSET", "BF")))
    data = load_task(task, settings=settings)
    assert list(data.targets) == ["ASSET", "BF"]


def test_coordinates_swapped_out_of_range_or_outside(tmp_path):
    df = village_table()
    # lat ≈ 25.3, lon ≈ 87: swapped values stay in range, the imagery check catches them
    task = make_task(tmp_path, df.rename(columns={"lat": "lon", "lon": "lat"}))
    with pytest.raises(LabelError, match="with lat and lon swapped they would"):
        load_task(task)
    bad = df.assign(lat=df["lon"] + 20)  # latitude ≈ 107
    with pytest.raises(LabelError, match=r"out of range|look swapped"):
        read_villages(_csv(bad, tmp_path / "bad.csv"))
    far = df.copy()
    far.loc[[0, 1], "lon"] += 1.0  # ~100 km east
    far.loc[2, ["lat", "lon"]] = np.nan
    task2 = make_task(tmp_path / "b", far)
    data = load_task(task2)
    assert any("2 villages outside all tiles: V00, V01" in r for r in data.report)
    assert any("1 village without lat/lon dropped" in r for r in data.report)
    assert len(data.labelled()) == 9
    out = df.assign(lon=df["lon"] + 1.0)
    with pytest.raises(LabelError, match=r"No village of .* falls inside the imagery"):
        load_task(make_task(tmp_path / "c", out))


def _csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def test_several_villages_in_one_tile_are_aggregated(tmp_path):
    """Levels: the mode (a tie goes to the village nearest the centre); masks honoured per indicator."""
    df = village_table()  # V00 (tile 0,0): ASSET 0, BF 1, CHH 2
    extra = pd.concat([df.iloc[[0]]] * 2, ignore_index=True)
    for k, (dx, dy) in enumerate([(250, 250), (-250, 200)]):
        extra.loc[k, ["lon", "lat"]] = tile_centre(0, 0, dx, dy)
    extra["village_id"] = ["FAR1", "FAR2"]
    extra["ASSET"] = [2, 2]  # 0, 2, 2 → mode 2
    extra["BF"] = [0, np.nan]  # 1, 0 (one missing) → tie → V00's 1
    extra["CHH"] = [np.nan, np.nan]  # only V00 → 2
    task = make_task(tmp_path, pd.concat([df, extra], ignore_index=True))
    data = load_task(task)
    t = data.tiles.set_index("tile_id")
    assert t.loc["scene_r000_c000", "village_id"] == "V00"
    assert t.loc["scene_r000_c000", ["ASSET", "BF", "CHH"]].tolist() == [2, 1, 2]
    assert t.loc["scene_r000_c001", "ASSET"] == df.loc[1, "ASSET"]  # single-village tiles unchanged
    line = next(r for r in data.report if "more than one village" in r)
    assert line.startswith("1 tile holds more than one village (3 villages): aggregated (mode of levels")
    assert set(data.vectors.loc[data.vectors["village_id"].isin(["FAR1", "FAR2"]), "tile_id"]) == {"scene_r000_c000"}


def _fraction_task(tmp_path: Path) -> Path:
    """12 one-village tiles with fractions, plus tile (1, 1) holding three villages (0.05, 0.95, 0.90)."""
    df = village_table()[["village_id", "lat", "lon"]]
    rng = np.random.default_rng(3)
    df["LIT"] = rng.uniform(0.1, 0.9, len(df))
    df["pop"] = 1000.0
    crowd = pd.DataFrame({"village_id": ["C1", "C2", "C3"], "LIT": [0.05, 0.95, 0.90], "pop": [9000.0, 500.0, 500.0]})
    pts = [tile_centre(1, 1, dx, dy) for dx, dy in [(10, 10), (200, -150), (-180, 160)]]
    crowd["lon"], crowd["lat"] = [p[0] for p in pts], [p[1] for p in pts]
    df = pd.concat([df[df["village_id"] != "V11"], crowd], ignore_index=True)
    task = make_task(tmp_path, df)
    (task / "tlgeo.toml").write_text('task = "villages"\n[tiles]\nsize = 64\n[villages]\nindicators = ["LIT"]\n')
    return task


def test_fractions_in_one_tile_are_averaged_optionally_weighted(tmp_path):
    task = _fraction_task(tmp_path)
    data = load_task(task)
    cuts = data.bins["LIT"]
    t = data.tiles.set_index("tile_id")
    mean = (0.05 + 0.95 + 0.90) / 3  # 0.633
    assert t.loc["scene_r001_c001", "LIT"] == int(np.searchsorted(cuts, mean, side="right"))
    assert t.loc["scene_r001_c001", "village_id"] == "C1"
    assert any("1 tile holds more than one village (3 villages): aggregated (mean of fractions for LIT)" in r
               for r in data.report)  # fmt: skip
    # weighted by population: (0.05·9000 + 0.95·500 + 0.90·500) / 10000 = 0.1375 → the lowest level
    (task / "tlgeo.toml").write_text(
        'task = "villages"\n[tiles]\nsize = 64\n[villages]\nindicators = ["LIT"]\nweight_column = "pop"\n'
    )
    data_w = load_task(task)
    tw = data_w.tiles.set_index("tile_id")
    assert np.searchsorted(cuts, 0.1375, side="right") == 0 < t.loc["scene_r001_c001", "LIT"]
    assert tw.loc["scene_r001_c001", "LIT"] == 0
    assert any("weighted by pop" in r for r in data_w.report)
    # single-village tiles: same level either way
    same = tw.index != "scene_r001_c001"
    assert (tw.loc[same, "LIT"] == t.loc[same, "LIT"]).all()


def test_weight_column_checks_and_cli_flag(tmp_path):
    task = _fraction_task(tmp_path)
    out = tmp_path / "w.geojson"
    res = _cli(
        "villages", "--indicators", str(task / "villages.csv"), "--data", str(task), "--out", str(out),
        "--columns", "LIT", "--weight-column", "pop",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "aggregated (mean of fractions for LIT, weighted by pop)" in res.stdout
    assert gpd.read_file(out).set_index("tile_id").loc["scene_r001_c001", "LIT"] == 0
    res = _cli(
        "villages", "--indicators", str(task / "villages.csv"), "--data", str(task), "--out", str(tmp_path / "x.json"),
        "--columns", "LIT", "--weight-column", "population",
    )  # fmt: skip
    assert res.returncode == 2 and "population" in res.stderr and "Traceback" not in res.stderr
    df = pd.read_csv(task / "villages.csv")
    df.loc[0, "pop"] = -5
    with pytest.raises(LabelError, match="'pop' holds negative values"):
        read_villages(_csv(df, tmp_path / "neg.csv"), VillageLabelConfig(indicators=("LIT",), weight_column="pop"))


def test_geojson_points_and_polygons(tmp_path):
    df = village_table()
    task = make_task(tmp_path)
    pts = gpd.GeoDataFrame(
        df.drop(columns=["lat", "lon"]), geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326
    ).to_crs(CRS)
    pts.to_file(task / "villages.gpkg")
    data = load_task(task)
    assert len(data.labelled()) == 12
    (task / "villages.gpkg").unlink()
    # polygons: village A covers tiles (3,0) and (3,1) fully and 30 % of (2,0); village B covers 80 % of (3,2)
    tx = TILE * RES
    a = shapely.box(X0, Y0 - 4 * tx, X0 + 2 * tx, Y0 - 2.7 * tx)
    b = shapely.box(X0 + 2 * tx, Y0 - 4 * tx, X0 + 2.8 * tx, Y0 - 3 * tx)
    polys = gpd.GeoDataFrame(
        {"village_id": ["A", "B"], **{ind: [1, 2] for ind in DEFAULT_INDICATORS}}, geometry=[a, b], crs=CRS
    ).to_crs(4326)
    polys.to_file(task / "villages.geojson")
    data = load_task(task)
    t = data.tiles.set_index("tile_id")
    assert t.loc["scene_r003_c000", "village_id"] == "A" and t.loc["scene_r003_c001", "village_id"] == "A"
    assert t.loc["scene_r003_c002", "village_id"] == "B" and t.loc["scene_r003_c002", "ASSET"] == 2
    assert pd.isna(t.loc["scene_r002_c000", "village_id"])  # 30 % overlap: not this village's tile
    assert len(data.labelled()) == 3


def test_crs_less_and_empty_files(tmp_path):
    df = village_table()
    gdf = gpd.GeoDataFrame(df.drop(columns=["lat", "lon"]), geometry=gpd.points_from_xy(df["lon"], df["lat"]))
    with pytest.warns(UserWarning, match="crs"):
        gdf.to_file(tmp_path / "nocrs.gpkg")
    assert gpd.read_file(tmp_path / "nocrs.gpkg").crs is None
    with pytest.raises(GeoreferenceError, match="has no CRS"):
        read_villages(tmp_path / "nocrs.gpkg")
    empty = tmp_path / "villages.csv"
    empty.write_text("")
    with pytest.raises(DataFileError, match="empty"):
        read_villages(empty)
    with pytest.raises(DataFileError, match="No village file"):
        load_task(make_task(tmp_path / "none"))
    semi = _csv(df, tmp_path / "v.csv")
    df.to_csv(semi, sep=";", index=False)
    villages, report = read_villages(semi)
    assert len(villages) == 12 and any("semicolon" in r for r in report)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tlgeo", "labels", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_cli_villages(tmp_path):
    df = village_table()
    task = make_task(tmp_path, df)
    out = tmp_path / "villages_labels.geojson"
    res = _cli("villages", "--indicators", str(task / "villages.csv"), "--data", str(task), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "wrote" in res.stdout and "12 labelled tiles of 16" in res.stdout
    tiles = gpd.read_file(out)
    assert tiles.crs.to_epsg() == 4326
    assert {"tile_id", "village_id", *DEFAULT_INDICATORS} <= set(tiles.columns)
    assert (tiles["BF"] == -1).sum() == 5
    bad = _csv(df.drop(columns=["village_id"]), tmp_path / "bad.csv")
    res = _cli("villages", "--indicators", str(bad), "--data", str(task), "--out", str(tmp_path / "x.geojson"))
    assert res.returncode == 2 and res.stderr.startswith("error:") and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "lacks column(s) village_id" in res.stderr
    res = _cli(
        "villages", "--indicators", str(bad), "--data", str(task), "--out", str(tmp_path / "y.geojson"),
        "--columns", "ASSET,XYZ",
    )  # fmt: skip
    assert res.returncode == 2 and "XYZ" in res.stderr
