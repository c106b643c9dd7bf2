"""Prediction on a local Dask cluster (loopback, worker processes): same files as one process, worker faults."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from tests.conftest import ROOT, SAMPLE, train_saved_run
from tlgeo.config import TrainConfig
from tlgeo.distributed.cluster import open_cluster, parse_cluster
from tlgeo.distributed.predict import predict_inputs_on_cluster
from tlgeo.errors import ConfigError
from tlgeo.export import write_geojson, write_prediction_geotiff
from tlgeo.predict import predict_inputs

pytest.importorskip("distributed")

FAST = TrainConfig(
    backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2, head_epochs=8, batch_size=16, patience=2
)
SCENES = [SAMPLE / "roads" / "imagery" / "ngong.tif", SAMPLE / "roads" / "imagery" / "ruiru.tif"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    return train_saved_run(tmp, tmp / "runs", FAST, seed=3)[1]


@pytest.fixture(scope="module")
def client():
    with open_cluster("local:2") as c:
        yield c


@pytest.fixture(scope="module")
def single(run):
    """The single-process predictions of both sample scenes."""
    return predict_inputs(run.path, SCENES, batch_size=64)


def _features(path: Path) -> list[dict]:
    return json.loads(path.read_text())["features"]


def _assert_same_geojson(a: Path, b: Path) -> None:
    fa, fb = _features(a), _features(b)
    assert len(fa) == len(fb) > 0
    for x, y in zip(fa, fb, strict=True):
        assert x["geometry"] == y["geometry"]
        px, py = x["properties"], y["properties"]
        assert px.keys() == py.keys()
        for k, v in px.items():
            if k.startswith("prob_"):
                assert abs(v - py[k]) <= 1e-6, (k, v, py[k])
            else:
                assert v == py[k], k


def test_cluster_spec_is_parsed_or_refused_with_the_forms_named():
    assert parse_cluster("local:3").workers == 3
    assert parse_cluster("local").workers == (os.cpu_count() or 1)
    assert parse_cluster("10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert parse_cluster("tcp://host:8786").address == "tcp://host:8786"
    for bad in ("local:0", "cluster", "local:x", "tcp://host"):
        with pytest.raises(ConfigError, match="--cluster"):
            parse_cluster(bad)


def test_two_workers_predict_the_sample_scenes_like_one_process(run, client, single, tmp_path):
    from tlgeo.distributed.cluster import worker_count

    assert worker_count(client) == 2
    seen = []
    res = predict_inputs_on_cluster(
        run.path, SCENES, client=client, batch_size=64, progress=lambda d, t: seen.append((d, t))
    )
    assert not res.warnings
    assert res.scenes == [Path(s) for s in SCENES]
    assert seen[-1] == (8192, 8192) and all(b[0] >= a[0] for a, b in itertools.pairwise(seen))
    write_geojson(single.predictions, tmp_path / "one.geojson")
    write_geojson(res.predictions, tmp_path / "cluster.geojson")
    _assert_same_geojson(tmp_path / "one.geojson", tmp_path / "cluster.geojson")
    assert list(res.predictions["tile_id"]) == list(single.predictions["tile_id"])
    for scene in SCENES:
        a = write_prediction_geotiff(single, scene, tmp_path / f"one_{scene.stem}.tif")
        b = write_prediction_geotiff(res, scene, tmp_path / f"cluster_{scene.stem}.tif")
        with rasterio.open(a) as da, rasterio.open(b) as db:
            assert da.transform == db.transform and da.crs == db.crs
            np.testing.assert_array_equal(da.read(), db.read())


def test_with_a_sink_the_driver_holds_one_batch_at_a_time(run, client, single):
    """Each spooled batch reaches the sink as its own frame and is dropped: concatenated, the frames are the
    single-process predictions (same rows, order, values); the result itself holds no rows."""
    frames = []
    res = predict_inputs_on_cluster(
        run.path, SCENES, client=client, batch_size=64, windows_per_task=256, sink=frames.append
    )
    assert len(res.predictions) == 0 and res.scenes == [Path(s) for s in SCENES] and not res.warnings
    assert len(frames) >= 32 and max(len(f) for f in frames) <= 256  # 8,192 windows in batches of 256
    merged = pd.concat(frames, ignore_index=True)
    expected = single.predictions
    assert list(merged["tile_id"]) == list(expected["tile_id"]) and all(f.crs == expected.crs for f in frames)
    np.testing.assert_allclose(merged["prob_good"], expected["prob_good"], atol=1e-6)
    assert merged.geometry.geom_equals_exact(expected.geometry, tolerance=1e-6).all()


def test_a_worker_killed_mid_prediction_has_its_batches_retried(run, client, single):
    pids = sorted(client.run(os.getpid).values())
    killed = []

    def progress(done, total):
        if 0 < done < total and not killed:
            os.kill(pids[0], signal.SIGKILL)  # a worker process dies with batches in flight
            killed.append(done)

    res = predict_inputs_on_cluster(
        run.path, SCENES[:1], client=client, batch_size=64, windows_per_task=64, progress=progress
    )
    assert killed
    client.wait_for_workers(2, timeout=60)
    assert pids[0] not in client.run(os.getpid).values()  # the nanny replaced the killed worker
    expected = single.predictions[single.predictions["source"] == "ngong"].reset_index(drop=True)
    assert not res.warnings
    assert list(res.predictions["tile_id"]) == list(expected["tile_id"])
    np.testing.assert_allclose(res.predictions["prob_good"], expected["prob_good"], atol=1e-6)


def test_batches_that_keep_failing_are_reported_and_the_rest_is_written(run, client, tmp_path):
    good = tmp_path / "good.tif"
    bad = tmp_path / "bad.tif"
    with rasterio.open(SCENES[0]) as src:
        win = rasterio.windows.Window(0, 0, 256, 256)
        data, crs, transform = src.read(window=win), src.crs, src.window_transform(win)
    profile = dict(driver="GTiff", width=256, height=256, count=3, dtype="uint8", crs=crs, transform=transform)
    profile |= dict(tiled=True, blockxsize=64, blockysize=64, compress="deflate")
    for p in (good, bad):
        with rasterio.open(p, "w", **profile) as dst:
            dst.write(data)
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2])  # header intact, half the data blocks gone
    res = predict_inputs_on_cluster(run.path, [good, bad], client=client, batch_size=16, windows_per_task=16)
    assert set(res.predictions["source"]) >= {"good"}
    assert (res.predictions["source"] == "good").sum() == 64
    failed = [w for w in res.warnings if "could not be predicted" in w]
    assert failed and all("bad.tif" in w for w in failed)


def test_cli_cluster_writes_the_same_files_and_refuses_a_bad_value(run, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    scene = tmp_path / "crop.tif"
    with rasterio.open(SCENES[1]) as src:
        win = rasterio.windows.Window(512, 256, 320, 288)  # not a multiple of the tile: edge windows shift
        profile = dict(driver="GTiff", width=320, height=288, count=3, dtype="uint8", crs=src.crs)
        with rasterio.open(scene, "w", transform=src.window_transform(win), **profile) as dst:
            dst.write(src.read(window=win))
    base = [sys.executable, "-m", "tlgeo", "predict", str(scene), "--run", str(run.path)]
    bad = subprocess.run(
        [*base, "--out", str(tmp_path / "x.geojson"), "--cluster", "local:zero"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2 and "--cluster" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.geojson").exists()
    files = (("out", "geojson"), ("geotiff", "tif"), ("csv", "csv"))
    for name, extra in (("one", []), ("cluster", ["--cluster", "local:1"])):
        out = subprocess.run(
            [*base, *(f"--{k}={tmp_path / name}.{ext}" for k, ext in files), *extra],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
    assert "cluster local:1: 1 worker(s)" in out.stderr
    _assert_same_geojson(tmp_path / "one.geojson", tmp_path / "cluster.geojson")  # written batch by batch
    one, cluster = (pd.read_csv(tmp_path / f"{n}.csv") for n in ("one", "cluster"))
    pd.testing.assert_frame_equal(
        one.drop(columns=["prob_good", "prob_fair", "prob_poor"]),
        cluster.drop(columns=["prob_good", "prob_fair", "prob_poor"]),
    )
    np.testing.assert_allclose(one["prob_good"], cluster["prob_good"], atol=1e-6)
    with rasterio.open(tmp_path / "one.tif") as a, rasterio.open(tmp_path / "cluster.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
