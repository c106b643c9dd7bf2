"""Active learning: scores, picks, undriven stretches within a budget, the route, GPX, sites, the ``plan`` CLI.

The roads fixture is a task folder built in code (one 384 m scene in UTM 37S, a RoadRunner log along one road, a
road network with driven, undriven and out-of-imagery roads) with a tiny run (tiny_cnn, features_linear) trained
in-test on tiles of the same scene and saved with that folder as its data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString

from tests.conftest import ROOT, make_task_data, roadrunner_frame
from tlgeo.active import ActiveSettings, select, standardize, uncertainty
from tlgeo.config import TrainConfig
from tlgeo.errors import ConfigError
from tlgeo.plan import plan_drives, plan_from_run, plan_sites, tile_outputs
from tlgeo.plan_roads import DRIVEN_TOLERANCE_M, GPX_NS, read_gpx, route_gpx_bytes, undriven_stretches
from tlgeo.predict import load_predictor
from tlgeo.runs import save_run

FAST = TrainConfig(
    backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2, head_epochs=8, batch_size=16, patience=2
)
X0, Y0 = 257_000.0, 9_858_000.0  # scene origin (top-left), EPSG:32737, 1 m/px, 12 × 12 tiles of 32 px = 384 m
TO_LONLAT = Transformer.from_crs(32737, 4326, always_xy=True)


def _lonlat(xy: list[tuple[float, float]]) -> list[list[float]]:
    lon, lat = TO_LONLAT.transform([p[0] for p in xy], [p[1] for p in xy])
    return [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]


def _roadrunner(y: float, n: int = 7, seg: float = 50.0) -> pd.DataFrame:
    """A RoadRunner log driving east along ``y`` (UTM) across the scene, 50 m segments, one phone."""
    rough = np.linspace(1.0, 6.0, n)
    lines = [
        str({"type": "LineString", "coordinates": _lonlat([(X0 + 5 + i * seg, y), (X0 + 5 + (i + 1) * seg, y)])})
        for i in range(n)
    ]
    return roadrunner_frame(
        lines,
        distance=seg,
        rough=rough,
        filename="20250301_1",
        time=1740800000000 + np.arange(n) * 4000,
        phone="c0ffee",
    )


DRIVEN_Y = Y0 - 100
ROADS = {
    "driven": [(X0, DRIVEN_Y), (X0 + 384, DRIVEN_Y)],
    "south": [(X0 + 10, Y0 - 300), (X0 + 374, Y0 - 300)],  # undriven, straight, 364 m
    "link": [(X0 + 200, DRIVEN_Y), (X0 + 200, Y0 - 300)],  # undriven, joins driven and south
    "far": [(X0 + 5000, Y0 - 300), (X0 + 5400, Y0 - 300)],  # undriven, outside the imagery
}


def _network() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"road_id": list(ROADS)}, geometry=[LineString(v) for v in ROADS.values()], crs=32737
    ).to_crs(4326)


def _task_folder(root: Path, *, with_roads: bool = True):
    """The task folder, and labels built in code over its scene (what the tiny run is trained on)."""
    (root / "imagery").mkdir(parents=True)
    (root / "vibration").mkdir()
    task = make_task_data(root / "imagery", n=12, size=32)  # writes imagery/scene.tif
    _roadrunner(DRIVEN_Y).to_csv(root / "vibration" / "drive.csv", index=False)
    (root / "tlgeo.toml").write_text(
        'task = "roads"\n[tiles]\nsize = 32\nstride = 32\n[roads]\nthresholds = [2.5, 4.5]\n', encoding="utf-8"
    )
    if with_roads:
        _network().to_file(root / "roads.geojson", driver="GeoJSON")
    return root, task


@pytest.fixture(scope="module")
def roads_run(tmp_path_factory):
    """(task folder, run, predictor) — the run was trained on labels built in code over the same scene."""
    from tlgeo.train import train

    tmp = tmp_path_factory.mktemp("active_roads")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLGEO_CACHE", str(tmp / "cache"))
        folder, task = _task_folder(tmp / "task")
        run = save_run(train(task, FAST), task.settings, tmp / "runs", extra={"data": str(folder)})
        bare, task = _task_folder(tmp / "bare", with_roads=False)
        run_bare = save_run(train(task, FAST), task.settings, tmp / "runs", extra={"data": str(bare)})
        (tmp / "vtrain").mkdir()
        vtask = make_task_data(tmp / "vtrain", multi=True)
        vrun = save_run(train(vtask, FAST), vtask.settings, tmp / "runs", extra={"data": str(tmp / "vtrain")})
        yield folder, run, load_predictor(run), run_bare, vrun


def _drives(roads_run, budget_km: float, **kw):
    _, run, predictor, *_ = roads_run
    return plan_from_run(run, budget_km=budget_km, predictor=predictor, **kw)


# --------------------------------------------------------------------------------------------- scores
def test_uncertainty_is_zero_when_sure_and_one_when_uniform():
    p = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0], [0.8, 0.1, 0.1]])
    ent = uncertainty(p, "entropy")
    mar = uncertainty(p, "margin")
    assert ent[0] == pytest.approx(0) and ent[1] == pytest.approx(1)
    assert mar[0] == pytest.approx(0) and mar[1] == pytest.approx(1) and mar[2] == pytest.approx(1)
    assert mar[3] == pytest.approx(0.3) and 0 < ent[3] < ent[2] < 1
    multi = uncertainty({"a": p[:2], "b": p[[1, 0]]}, "entropy")  # mean over targets
    assert multi == pytest.approx([0.5, 0.5])
    with pytest.raises(ConfigError, match="margin"):
        uncertainty(p, "variance")


def test_select_weighting_uncertainty_alone_diversity_alone_and_budget():
    rng = np.random.default_rng(3)
    x = np.vstack([rng.normal(0, 0.01, (5, 2)), [[10.0, 0.0]], [[0.0, 10.0]]])  # a tight cluster + 2 outliers
    unc = np.array([0.9, 0.95, 0.85, 0.8, 0.99, 0.1, 0.2])
    labelled = np.zeros((1, 2))
    only_u, _ = select(unc, x, labelled, 3, settings=ActiveSettings(weight=1.0))
    assert list(only_u) == [4, 1, 0]  # uncertainty alone: the three most uncertain, all in the cluster
    only_d, _ = select(unc, x, labelled, 2, settings=ActiveSettings(weight=0.0))
    assert set(only_d) == {5, 6}  # k-center: the far points first
    mixed, scores = select(unc, x, labelled, 3, settings=ActiveSettings(weight=0.5))
    assert len(set(mixed) & {0, 1, 2, 3, 4}) < 3  # not three near-duplicates from the cluster
    assert np.all(np.diff(scores) <= 1e-9) or len(scores) == 3
    costs = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 2.5, 2.5])
    picks, _ = select(unc, x, labelled, settings=ActiveSettings(weight=0.5), costs=costs, budget=3.0)
    assert costs[picks].sum() <= 3.0 and len(picks) >= 1
    with pytest.raises(ConfigError, match="weight"):
        ActiveSettings(weight=1.5)
    with pytest.raises(ConfigError, match="min_distance_m"):
        ActiveSettings(min_distance_m=float("nan"))


def test_min_distance_between_picks():
    xy = np.array([[0.0, 0.0], [10.0, 0.0], [500.0, 0.0], [20.0, 0.0]])
    dist = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    picks, _ = select(
        np.array([0.9, 0.8, 0.1, 0.7]),
        standardize(np.eye(4)),
        np.empty((0, 4)),
        4,
        settings=ActiveSettings(weight=1.0, min_distance_m=100.0),
        distance_m=dist,
    )
    assert list(picks) == [0, 2]


# --------------------------------------------------------------------------------------------- stretches
def test_undriven_stretches_leave_out_driven_roads_and_cut_long_pieces():
    net = _network()
    driven = gpd.GeoDataFrame(geometry=[LineString(ROADS["driven"])], crs=32737)
    st = undriven_stretches(net, driven, max_stretch_m=150.0)
    assert st.crs.is_projected and (st.geom_type == "LineString").all()
    assert (st["length_m"] <= 150.0 + 1e-6).all()
    cover = driven.to_crs(st.crs).buffer(DRIVEN_TOLERANCE_M - 0.5).union_all()
    assert shapely.length(shapely.intersection(st.geometry.values, cover)).max() < 1e-6
    total = st.groupby("piece")["length_m"].sum().sort_values().to_numpy()
    # south (364 m) is split where link (200 m − 15 m tolerance at its north end) joins it at x = 200; far: 400 m
    np.testing.assert_allclose(total, [174, 200 - DRIVEN_TOLERANCE_M, 190, 400], atol=0.5)
    assert len(undriven_stretches(net, None)) >= 4  # nothing driven: every road is a candidate


def test_drives_respect_the_budget_and_only_propose_undriven_roads_in_the_imagery(roads_run):
    _, run, *_ = roads_run
    small = _drives(roads_run, 0.25)
    assert 0 < small.total_km <= 0.25 and len(small.plan) >= 1
    big = _drives(roads_run, 50)
    assert big.total_km <= 50
    plan = big.plan.to_crs(32737)
    scene = shapely.box(X0, Y0 - 384, X0 + 384, Y0)
    assert shapely.length(shapely.intersection(plan.geometry.values, scene)).sum() == pytest.approx(
        plan.length.sum(), rel=1e-6
    )  # the far road, outside the imagery, is never proposed
    driven = shapely.LineString(ROADS["driven"]).buffer(DRIVEN_TOLERANCE_M - 0.5)
    assert shapely.length(shapely.intersection(plan.geometry.values, driven)).max() < 1e-6
    # every undriven metre inside the imagery fits a 50 km budget: south (364 m) + link (185 m)
    assert big.total_km == pytest.approx((364 + 200 - DRIVEN_TOLERANCE_M) / 1000, abs=2e-3)
    assert sorted(plan["rank"]) == list(range(1, len(plan) + 1))
    assert list(plan["order"]) == list(range(1, len(plan) + 1))
    assert {"score", "length_km", "rank", "al_weight", "al_uncertainty", "run_id"} <= set(plan.columns)
    assert (plan["score"].between(0, 1)).all() and set(plan["run_id"]) == {run.run_id}
    assert plan["start"].iloc[0] == "nearest driven road"
    assert plan["gap_m"].iloc[0] == pytest.approx(DRIVEN_TOLERANCE_M, abs=0.5)  # link starts 15 m off the drive


def test_route_is_contiguous_along_the_network(roads_run):
    _, run, predictor, *_ = roads_run
    from tlgeo.plan import run_task

    task = run_task(run)
    probs, emb = tile_outputs(predictor, task.tiles)
    south = gpd.GeoDataFrame(geometry=[LineString(ROADS["south"])], crs=32737)
    res = plan_drives(task, probs, emb, 5.0, network=south, max_stretch_m=60.0, start=_lonlat([(X0, Y0 - 300)])[0])
    plan = res.plan
    assert len(plan) == 7  # 364 m in 7 stretches of 52 m
    assert plan["gap_m"].iloc[1:].max() == pytest.approx(0, abs=1e-6)  # end of each = start of the next
    ends = [shapely.Point(g.coords[-1]) for g in plan.geometry]
    starts = [shapely.Point(g.coords[0]) for g in plan.geometry]
    assert all(e.distance(s) < 1e-6 for e, s in zip(ends[:-1], starts[1:], strict=True))
    assert plan["start"].iloc[0] == "given" and plan["gap_m"].iloc[0] == pytest.approx(10.0, abs=0.1)
    assert plan["cum_km"].iloc[-1] == pytest.approx(0.374, abs=1e-3)


def test_gpx_parses_back_and_matches_the_geojson(roads_run, tmp_path):
    res = _drives(roads_run, 50)
    data = route_gpx_bytes(res.plan)
    root = ET.fromstring(data)
    assert root.tag == f"{{{GPX_NS}}}gpx" and root.get("version") == "1.1"
    back = read_gpx(data)
    lonlat = res.plan.to_crs(4326)
    assert len(back["trk"]) == len(lonlat) and len(back["rte"]) == 1 and len(back["rte"][0]) == 2 * len(lonlat)
    for seg, geom in zip(back["trk"], lonlat.geometry, strict=True):
        np.testing.assert_allclose(np.asarray(seg), np.asarray(geom.coords)[:, :2], atol=1e-6)
    assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for seg in back["trk"] for lon, lat in seg)


def test_plan_is_deterministic_for_a_fixed_seed(roads_run):
    a = _drives(roads_run, 0.4, settings=ActiveSettings(seed=7)).table()
    b = _drives(roads_run, 0.4, settings=ActiveSettings(seed=7)).table()
    pd.testing.assert_frame_equal(a, b)


def test_sites_are_unlabelled_tiles_ranked_within_n(roads_run, tmp_path):
    *_, vrun = roads_run
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    task = make_task_data(tmp_path / "a", multi=True)
    task.tiles.loc[task.tiles.index[::3], ["A", "B"]] = -1  # a third of the tiles without any label
    predictor = load_predictor(vrun)
    probs, emb = tile_outputs(predictor, task.tiles)
    res = plan_sites(task, probs, emb, 10, settings=ActiveSettings(min_distance_m=50.0), run_id=vrun.run_id)
    plan = res.plan
    assert len(plan) <= 10 and list(plan["rank"]) == list(range(1, len(plan) + 1))
    unlabelled = set(task.unlabelled()["tile_id"])
    assert set(plan["tile_id"]) <= unlabelled and res.candidates == len(unlabelled)
    xy = shapely.get_coordinates(plan.geometry.values)
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) + np.eye(len(xy)) * 1e9
    assert d.min() >= 50.0
    assert {"A_label", "B_label", "lon", "lat", "al_min_distance_m"} <= set(plan.columns)
    with pytest.raises(ConfigError, match="budget"):
        plan_sites(task, probs, emb, 0)
    full = make_task_data(tmp_path / "b", multi=True)
    full.tiles[["A", "B"]] = 0
    with pytest.raises(ConfigError, match="already has a label"):
        plan_sites(full, probs, emb, 3)


# --------------------------------------------------------------------------------------------- CLI
def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "tlgeo", "plan", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )


def test_cli_writes_geojson_csv_and_gpx(roads_run, tmp_path):
    _, run, *_ = roads_run
    out, csv, gpx = tmp_path / "next.geojson", tmp_path / "next.csv", tmp_path / "next.gpx"
    res = _cli("--run", str(run.path), "--budget-km", "0.5", "--out", str(out), "--csv", str(csv), "--gpx", str(gpx))
    assert res.returncode == 0, res.stderr
    back = gpd.read_file(out)
    assert back.crs.to_epsg() == 4326 and (back.geom_type == "LineString").all()
    assert back["length_km"].sum() <= 0.5 and list(back["order"]) == list(range(1, len(back) + 1))
    table = pd.read_csv(csv)
    assert list(table["stretch_id"]) == list(back["stretch_id"])
    assert len(read_gpx(gpx.read_bytes())["trk"]) == len(back)
    assert json.loads(out.read_text())["type"] == "FeatureCollection"
    again = _cli("--run", str(run.path), "--budget-km", "0.5", "--out", str(out))
    assert again.returncode == 2 and "--overwrite" in again.stderr and len(again.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--budget-km", "0"], "--budget-km must be a positive number"),
        (["--budget-km", "-3"], "--budget-km must be a positive number"),
        (["--budget-km", "nan"], "--budget-km must be a positive number"),
        (["--budget", "0"], "--budget must be a positive number"),
        (["--budget", "2.5"], "whole number"),
        (["--budget-km", "1", "--start", "0,0"], "outside the data"),
        (["--budget-km", "1", "--start", "east"], "--start must be LON,LAT"),
        (["--budget-km", "1", "--out", "FILEDIR/x.geojson"], "which is a file, not a folder"),
        (["--budget-km", "1", "--budget", "3"], "either --budget-km"),
        (["BARE", "--budget-km", "1"], "needs a road network"),
        (["VILLAGES", "--budget-km", "1"], "villages run"),
    ],
)
def test_cli_bad_input_is_one_line_with_status_2(roads_run, tmp_path, args, needle):
    _, run, _, run_bare, vrun = roads_run
    which = {"BARE": run_bare, "VILLAGES": vrun}.get(args[0], run)
    args = [a for a in args if a not in ("BARE", "VILLAGES")]
    (tmp_path / "afile").write_text("not a folder")
    args = [a.replace("FILEDIR", str(tmp_path / "afile")) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "plan.geojson")]
    res = _cli("--run", str(which.path), *args)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [line for line in res.stderr.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "plan.geojson").exists()


def test_planning_modules_import_no_framework():
    heavy = ("keras", "tensorflow", "streamlit")
    mods = "tlgeo.active, tlgeo.plan_roads, tlgeo.plan, tlgeo.viz_plan"
    code = f"import sys, {mods}; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def test_a_network_driven_everywhere_or_a_budget_below_every_stretch_is_a_clear_error(roads_run):
    _, run, predictor, *_ = roads_run
    from tlgeo.plan import run_task

    task = run_task(run)
    probs, emb = tile_outputs(predictor, task.tiles)
    driven_only = gpd.GeoDataFrame(geometry=[LineString(ROADS["driven"])], crs=32737)
    with pytest.raises(ConfigError, match="No undriven road"):
        plan_drives(task, probs, emb, 5.0, network=driven_only)
    with pytest.raises(ConfigError, match="shorter than every undriven stretch"):
        plan_drives(task, probs, emb, 0.01)
