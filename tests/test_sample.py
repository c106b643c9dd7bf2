"""tlgeo.sample: the bundled sample data regenerates byte for byte and obeys the data contracts (DESIGN.md §3)."""

from __future__ import annotations

import ast
import hashlib
import platform
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import rasterio.warp
import shapely
from scipy import signal

from tlgeo.config import DEFAULT_INDICATORS, load_settings
from tlgeo.errors import ConfigError
from tlgeo.sample import ROADRUNNER_COLUMNS, SAMPLE_TASKS, generate_sample_data

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
ROADS = SAMPLE / "roads"
VILLAGES = SAMPLE / "villages"
LANDCOVER = SAMPLE / "landcover"
SURFACES = ("good", "fair", "poor")


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _phone_logs() -> list[Path]:
    return sorted((ROADS / "vibration").glob("phone_*.csv"))


# --------------------------------------------------------------------------------------------- determinism
@pytest.mark.slow
@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"),
    reason="byte identity is defined for x86-64 (numpy's AVX2 and AVX-512 kernels agree; ARM's do not)",
)
def test_regenerating_gives_byte_identical_files(tmp_path):
    written = generate_sample_data(tmp_path, tasks=SAMPLE_TASKS, seed=0)
    assert all(p.exists() and tmp_path in p.parents for p in written)
    assert _files(tmp_path) == _files(SAMPLE), "the generator writes other files than sample_data/ holds"
    # A GeoPackage is an SQLite file whose header records the version of the SQLite library that wrote it, and a
    # process may load another libsqlite3 than GDAL's (e.g. Python's): compare what it holds, not its bytes.
    differ = [f for f in _files(SAMPLE) if not f.endswith(".gpkg") and _sha256(SAMPLE / f) != _sha256(tmp_path / f)]
    for f in (f for f in _files(SAMPLE) if f.endswith(".gpkg")):
        ours, again = gpd.read_file(SAMPLE / f), gpd.read_file(tmp_path / f)
        if not (ours.crs == again.crs and ours.equals(again)):
            differ.append(f)
    assert not differ, (
        f"regenerated files differ from sample_data/: {differ}. If the generator changed on purpose, run "
        "`python -m tlgeo sample --out sample_data` and commit the result."
    )
    assert not list(tmp_path.rglob("*.aux.xml")) and not list(tmp_path.rglob("*.tmp"))


def test_unknown_task_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="forest"):
        generate_sample_data(tmp_path, tasks=("forest",))


# --------------------------------------------------------------------------------------------- settings & README
def test_settings_files_load():
    roads = load_settings(ROADS)
    assert roads.task == "roads"
    assert (roads.tiles.size, roads.tiles.step, roads.tiles.bands.scaling) == (64, 64, "none")
    assert (roads.roads.min_speed_kmh, roads.roads.segment_length_m) == (20, 50)
    villages = load_settings(VILLAGES)
    assert villages.task == "villages"
    assert villages.tiles.size == villages.tiles.step == 96
    assert villages.villages.indicators == DEFAULT_INDICATORS


def test_readme_says_synthetic_and_licence():
    text = (SAMPLE / "README.md").read_text(encoding="utf-8")
    assert "synthetic" in text.lower() and "CC0" in text
    for name in ("roads_truth.geojson", "villages_truth.csv", "roadrunner_", "phone_A12", "never used for training"):
        assert name in text


# --------------------------------------------------------------------------------------------- imagery
@pytest.mark.parametrize(
    ("folder", "epsg", "res", "lon", "lat"),
    [(ROADS, 32737, 0.5, (36.7, 37.1), (-1.4, -1.0)), (VILLAGES, 32645, 2.0, (85.2, 85.6), (26.0, 26.3))],
)
def test_scenes_obey_contract(folder, epsg, res, lon, lat):
    tifs = sorted((folder / "imagery").glob("*.tif"))
    assert len(tifs) >= 2
    for tif in tifs:
        with rasterio.open(tif) as ds:
            assert ds.crs.to_epsg() == epsg
            assert ds.res == (res, res)
            assert (ds.count, ds.dtypes) == (3, ("uint8",) * 3)
            assert ds.profile["tiled"] and ds.block_shapes[0] == (256, 256)
            assert ds.compression is not None
            assert not any("DATETIME" in k for k in ds.tags()), "timestamps break byte-identical regeneration"
            west, south, east, north = rasterio.warp.transform_bounds(ds.crs, "EPSG:4326", *ds.bounds)
            assert lon[0] < west < east < lon[1] and lat[0] < south < north < lat[1]
            small = ds.read(out_shape=(3, 64, 64))
            assert small.std() > 10, "scene looks blank"
    assert not list(folder.rglob("*.aux.xml"))


# --------------------------------------------------------------------------------------------- phone logs
def test_phone_logs_obey_contract():
    logs = _phone_logs()
    devices = set()
    rates = set()
    for path in logs:
        df = pd.read_csv(path)
        assert {"time", "lat", "lon", "acc_z"} <= set(df.columns)
        assert df.columns[-1] == "device_id"
        devices |= set(df.device_id.unique())
        if "acc_x" in df.columns:
            ts = pd.to_datetime(df.time, format="ISO8601", utc=True)
            t = (ts - ts.iloc[0]).dt.total_seconds().to_numpy()
            acc = df[["acc_x", "acc_y", "acc_z"]].to_numpy()
            g = np.linalg.norm(acc.mean(0))
            assert abs(acc[:, 2].mean()) < 9.0, "phone A is tilted: gravity spread over the axes"
        else:
            t = df.time.to_numpy(float)
            g = df.acc_z.mean()
            assert "speed" in df.columns
        assert 9.5 < g < 10.1
        dt = np.median(np.diff(t))
        rate = round(1 / dt)
        assert 50 <= rate <= 100
        rates.add(rate)
        fixes = df.lat.notna()
        assert (fixes == df.lon.notna()).all()
        fix_t = t[fixes.to_numpy()]
        assert np.median(np.diff(fix_t)) == pytest.approx(1.0, abs=0.02)
        assert fixes.sum() == pytest.approx((t[-1] - t[0]), rel=0.05)
        assert df.lat[fixes].between(-1.4, -1.0).all() and df.lon[fixes].between(36.7, 37.1).all()
        if "speed" in df.columns:
            speed = df.speed[fixes]
            assert speed.notna().all() and speed.between(0, 20).all()
            assert (speed == 0).sum() >= 10, "the drive includes stops"
            assert speed.max() * 3.6 > 45
    assert len(devices) >= 2 and len(rates) >= 2


def test_vibration_follows_drawn_surface():
    """RMS of vertical acceleration near roads of each surface: good ≪ fair ≪ poor (phone B07, truth surfaces)."""
    truth = gpd.read_file(ROADS / "truth" / "roads_truth.geojson").to_crs(32737)
    tree = shapely.STRtree(truth.geometry.values)
    path = next(p for p in _phone_logs() if "B07" in p.name)
    df = pd.read_csv(path)
    sos = signal.butter(4, 0.5, "hp", fs=50, output="sos")
    hp = signal.sosfiltfilt(sos, df.acc_z.to_numpy() - df.acc_z.mean())
    fix = np.nonzero(df.lat.notna().to_numpy())[0]
    pts = gpd.GeoSeries(gpd.points_from_xy(df.lon.iloc[fix], df.lat.iloc[fix]), crs=4326).to_crs(32737)
    near, dist = tree.query_nearest(pts.values, return_distance=True, all_matches=False)
    surface = truth.surface.to_numpy()[near[1]]
    rms = np.array([np.sqrt(np.mean(hp[i : i + 50] ** 2)) for i in fix])
    moving = (df.speed.iloc[fix].to_numpy() * 3.6 > 20) & (dist < 8)
    med = {s: np.median(rms[moving & (surface == s)]) for s in SURFACES}
    assert all((moving & (surface == s)).sum() > 50 for s in SURFACES)
    assert med["good"] * 2 < med["fair"] and med["fair"] * 2 < med["poor"], med


def test_roadrunner_log_obeys_contract():
    paths = sorted((ROADS / "vibration").glob("roadrunner_*.csv"))
    assert len(paths) == 1
    df = pd.read_csv(paths[0], dtype={"phoneID": str, "filename": str})
    assert list(df.columns) == ROADRUNNER_COLUMNS
    assert df.id.is_unique
    for text in df.line:
        geom = ast.literal_eval(text)
        assert geom["type"] == "LineString" and len(geom["coordinates"]) >= 2
        lon, lat = np.array(geom["coordinates"]).T
        assert (lon > 36.7).all() and (lon < 37.1).all() and (lat > -1.4).all() and (lat < -1.0).all()
    assert df.filename.str.fullmatch(r"2026\d{4}_\d+").all()
    assert df.time.between(1.7e12, 1.9e12).all()
    assert df.phoneID.isna().any() and df.phoneID.dropna().str.fullmatch(r"[0-9a-f]+").all()
    assert df.distance.between(10, 70).mean() > 0.8
    assert (df.distance > 120).sum() >= 2, "GPS dropouts stretch a few segments"
    assert (df[["iriXp", "iriYp", "iriZp", "iriX", "iriY", "iriZ"]] > 0).all().all()


def test_roads_truth_and_tile_balance():
    truth = gpd.read_file(ROADS / "truth" / "roads_truth.geojson")
    assert truth.crs.to_epsg() == 4326
    assert {"road_id", "scene", "surface", "width_m", "driven"} <= set(truth.columns)
    assert set(truth.surface) == set(SURFACES)
    assert truth.width_m.between(5, 9).all()
    assert set(truth.surface[~truth.driven]) == set(SURFACES)
    truth = truth.to_crs(32737)
    counts = {"driven": dict.fromkeys(SURFACES, 0), "undriven": dict.fromkeys(SURFACES, 0)}
    for tif in sorted((ROADS / "imagery").glob("*.tif")):
        with rasterio.open(tif) as ds:
            tr, n = ds.transform, ds.width // 64
        sub = truth[truth.scene == tif.stem]
        for r in range(n):
            for c in range(n):
                x0, y0 = tr * (c * 64, r * 64)
                x1, y1 = tr * ((c + 1) * 64, (r + 1) * 64)
                lengths = sub.geometry.intersection(shapely.box(x0, y1, x1, y0)).length
                if lengths.sum() < 10:
                    continue
                driven = lengths[sub.driven].sum() >= 10
                pick = lengths[sub.driven] if driven else lengths
                counts["driven" if driven else "undriven"][sub.surface[pick.idxmax()]] += 1
    driven = sum(counts["driven"].values())
    assert driven >= 250, counts
    assert all(v >= 0.25 * driven for v in counts["driven"].values()), counts
    assert sum(counts["undriven"].values()) >= 40 and all(counts["undriven"].values()), counts


# --------------------------------------------------------------------------------------------- villages
def test_villages_csv_obeys_contract():
    df = pd.read_csv(VILLAGES / "villages.csv", dtype={"village_id": str})
    assert list(df.columns) == ["village_id", "lat", "lon", *DEFAULT_INDICATORS]
    assert len(df) >= 150 and df.village_id.is_unique
    values = df[list(DEFAULT_INDICATORS)]
    known = values.to_numpy()[values.notna().to_numpy()]
    assert set(np.unique(known)) == {0, 1, 2}
    assert values.isna().all(axis=0).sum() == 0 and values.isna().any(axis=0).all(), "every column has gaps"
    assert 0.03 < values.isna().to_numpy().mean() < 0.12
    assert df.lat.between(26.0, 26.3).all() and df.lon.between(85.2, 85.6).all()


def test_villages_truth_one_per_tile_and_correlated():
    vt = pd.read_csv(VILLAGES / "truth" / "villages_truth.csv")
    df = pd.read_csv(VILLAGES / "villages.csv")
    assert list(vt.village_id) == list(df.village_id)
    assert not vt.duplicated(["scene", "tile_row", "tile_col"]).any()
    # centres sit well inside their 96 px (192 m) tiles
    for scene, group in vt.groupby("scene"):
        with rasterio.open(VILLAGES / "imagery" / f"{scene}.tif") as ds:
            col, row = ~ds.transform * (group.x.to_numpy(), group.y.to_numpy())
        assert (np.floor(row / 96) == group.tile_row).all() and (np.floor(col / 96) == group.tile_col).all()
        assert (np.abs(col % 96 - 48) < 20).all() and (np.abs(row % 96 - 48) < 20).all()
    # the published levels are the true levels where not missing
    for name in DEFAULT_INDICATORS:
        known = df[name].notna()
        assert (df[name][known] == vt[f"{name}_level"][known]).all()
        shares = np.bincount(vt[f"{name}_level"], minlength=3) / len(vt)
        assert (shares > 0.2).all()
    corr = vt[[f"{n}_level" for n in DEFAULT_INDICATORS]].corr(method="spearman")
    assert corr.loc["ASSET_level", "MSL_level"] > 0.3 and corr.loc["ASSET_level", "CHH_level"] > 0.4
    assert corr.loc["ASSET_level", "MSW_level"] < corr.loc["ASSET_level", "CHH_level"]


# --------------------------------------------------------------------------------------------- landcover
def test_landcover_scene_obeys_contract():
    """6 bands, 16-bit, nodata (a wedge and a gap), UTM, band names; every class present."""
    with rasterio.open(LANDCOVER / "imagery" / "scene.tif") as ds:
        assert (ds.count, ds.dtypes[0], ds.nodata) == (6, "uint16", 0)
        assert ds.crs.to_epsg() == 32633 and ds.res == (10.0, 10.0)
        assert ds.descriptions == ("blue", "green", "red", "nir", "swir1", "swir2")
        data = ds.read()
        mask = ds.dataset_mask()
    empty = (data == 0).all(axis=0)
    assert 0.02 < empty.mean() < 0.2 and (mask[empty] == 0).all()
    assert empty[0, -1] and not empty[-1, 0], "the nodata wedge sits at the top-right corner"
    assert data[:, ~empty].max() > 3000, "16-bit reflectance, not 8-bit"


def test_landcover_labels_and_settings():
    import tomllib

    labels = gpd.read_file(LANDCOVER / "labels.gpkg")
    assert labels.crs.to_epsg() == 32633 and set(labels.geom_type) == {"Point"}
    assert 300 <= len(labels) <= 600 and pd.api.types.is_string_dtype(labels["class"])
    truth = pd.read_csv(LANDCOVER / "truth" / "labels_truth.csv")
    assert list(truth["label_id"]) == list(labels["label_id"])
    counts = truth["placement"].value_counts()
    assert counts["edge"] >= 10 and counts["nodata"] >= 1 and counts["outside"] >= 1
    settings = tomllib.loads((LANDCOVER / "tlgeo.toml").read_text(encoding="utf-8"))
    assert settings["task"] == "classes"
    assert settings["labels"] == {"file": "labels.gpkg", "column": "class"}
    assert settings["tiles"]["bands"] == {"bands": [1, 2, 3, 4, 5, 6], "scaling": "percentile"}


def test_landcover_pairs_differ_only_outside_the_visible_bands():
    """Label-pixel means of RGB-identical pairs agree in blue/green/red within the patch-to-patch variation (±7 %
    brightness per patch) and differ clearly in NIR."""
    labels = gpd.read_file(LANDCOVER / "labels.gpkg")
    truth = pd.read_csv(LANDCOVER / "truth" / "labels_truth.csv")
    inside = labels[(truth["placement"] == "inside").to_numpy()]
    with rasterio.open(LANDCOVER / "imagery" / "scene.tif") as ds:
        values = np.array(list(ds.sample([(p.x, p.y) for p in inside.geometry])), dtype="float64")
    means = (
        pd.DataFrame(values, columns=["b", "g", "r", "nir", "swir1", "swir2"])
        .groupby(inside["class"].to_numpy())
        .mean()
    )
    for a, b in (("grassland", "cropland"), ("broadleaf_forest", "needleleaf_forest")):
        rgb = (means.loc[a, ["b", "g", "r"]] - means.loc[b, ["b", "g", "r"]]).abs() / means.loc[a, ["b", "g", "r"]]
        assert (rgb < 0.12).all(), (a, b, rgb.to_dict())
        assert abs(means.loc[a, "nir"] - means.loc[b, "nir"]) / means.loc[a, "nir"] > 0.3


def test_overwrite_never_replaces_a_users_own_task_folder(tmp_path):
    """A folder named like a sample task with the user's own tlgeo.toml is not a generated sample: refused, kept."""
    from tlgeo.errors import OutputExistsError
    from tlgeo.sample import generate_sample_data

    own = tmp_path / "roads"
    own.mkdir()
    (own / "tlgeo.toml").write_text('task = "roads"\n')
    (own / "my_labels.csv").write_text("id\n1\n")
    with pytest.raises(OutputExistsError, match="not a tlgeo sample folder"):
        generate_sample_data(tmp_path, tasks=("roads",), overwrite=True)
    assert sorted(p.name for p in own.iterdir()) == ["my_labels.csv", "tlgeo.toml"]
