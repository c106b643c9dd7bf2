"""``--cluster tcp://HOST:PORT``: a scheduler and workers started with the ``dask`` command, as docs/scaling.md says.

Everything runs on loopback: ``dask scheduler --host 127.0.0.1`` and two ``dask worker`` processes (one task
thread each) are started once for the module, then the CLI is pointed at the scheduler's address — the path a
user with a real cluster takes (connect, wait for workers, ask each for a free port), which ``local:N`` skips.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import rasterio

from tests.conftest import ROOT, SAMPLE, train_saved_run
from tlgeo.config import TrainConfig

pytest.importorskip("distributed")

SCENE = SAMPLE / "roads" / "imagery" / "ruiru.tif"
FAST = TrainConfig(
    backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2, head_epochs=6, batch_size=16, patience=2
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _tlgeo(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tlgeo", *args], capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=timeout
    )


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two connected workers (processes stopped after the module)."""
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    commands = [[*dask, "--host", "127.0.0.1", "--port", port, "--dashboard-address", "127.0.0.1:0"]]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "1", "--nthreads", "1"]
    commands += [[*worker, "--host", "127.0.0.1", "--no-dashboard"]] * 2
    procs = []
    try:
        for i, cmd in enumerate(commands):
            log = (logs / f"{i}.log").open("w")
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), cwd=logs))
            if i == 0:
                time.sleep(1.0)
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("remote-run")
    return train_saved_run(tmp, tmp / "runs", FAST, seed=5)[1]


def test_predict_on_a_scheduler_address_writes_the_same_files_as_one_process(scheduler, run, tmp_path):
    crop = tmp_path / "crop.tif"
    with rasterio.open(SCENE) as src:
        win = rasterio.windows.Window(256, 512, 448, 320)  # not a multiple of the tile: edge windows shift
        profile = dict(driver="GTiff", width=448, height=320, count=3, dtype="uint8", crs=src.crs)
        with rasterio.open(crop, "w", transform=src.window_transform(win), **profile) as dst:
            dst.write(src.read(window=win))
    for name, extra in (("one", []), ("remote", ["--cluster", scheduler])):
        out = _tlgeo(
            "predict",
            str(crop),
            "--run",
            str(run.path),
            "--out",
            str(tmp_path / f"{name}.geojson"),
            "--geotiff",
            str(tmp_path / f"{name}.tif"),
            *extra,
        )
        assert out.returncode == 0, out.stderr[-2000:]
    assert f"cluster {scheduler}: 2 worker(s)" in out.stderr
    one = json.loads((tmp_path / "one.geojson").read_text())["features"]
    remote = json.loads((tmp_path / "remote.geojson").read_text())["features"]
    assert len(one) == len(remote) == 140  # 14 × 10 windows of the run's 32 px tiles
    for a, b in zip(one, remote, strict=True):
        assert a["geometry"] == b["geometry"] and a["properties"]["label"] == b["properties"]["label"]
        for key, value in a["properties"].items():
            if key.startswith("prob_"):
                assert abs(value - b["properties"][key]) <= 1e-6
    with rasterio.open(tmp_path / "one.tif") as a, rasterio.open(tmp_path / "remote.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())


def test_train_on_a_scheduler_address_runs_on_both_workers(scheduler, tmp_path):
    runs = tmp_path / "runs"
    out = _tlgeo(
        *("train", "--data", str(SAMPLE / "roads"), "--backbone", "tiny_cnn", "--weights", "none"),
        *("--strategy", "scratch", "--img-size", "32", "--epochs", "2", "--folds", "2"),
        *("--runs", str(runs), "--cluster", scheduler),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"cluster {scheduler}: 2 worker(s) train synchronously" in out.stdout
    assert "2 cluster workers in sync" in out.stdout
    (run_dir,) = runs.iterdir()  # one run folder, written by the chief
    assert out.stdout.strip().splitlines()[-1] == str(run_dir)
    assert (run_dir / "config.json").is_file()


def test_no_scheduler_at_the_address_is_one_line(monkeypatch):
    """Nothing listens at the address: a ConfigError naming it and how to start a scheduler (the CLI prints it as one
    ``error:`` line, exit 2). The 20 s connect timeout is shortened here."""
    from tlgeo.distributed import cluster
    from tlgeo.errors import ConfigError

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    address = f"tcp://127.0.0.1:{_free_port()}"
    with pytest.raises(ConfigError) as err, cluster.open_cluster(address):
        pass
    text = str(err.value)
    assert "\n" not in text and f"No Dask scheduler answers at --cluster {address}" in text
    assert "dask scheduler" in text
