"""Training on a local Dask cluster: two worker processes in sync (MultiWorkerMirroredStrategy over loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT, SAMPLE
from tlgeo.distributed.train import strip_cluster_flag

pytest.importorskip("distributed")


def _tlgeo(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "tlgeo", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout
    )


def _train_roads_timed(*args: str, timeout: float = 300):
    """``_train_roads`` with each stdout line's arrival time: ``.timed`` is [(seconds since start, line), …]."""
    import threading
    import time
    from types import SimpleNamespace

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tlgeo", "train", "--data", str(SAMPLE / "roads"), "--backbone", "tiny_cnn", *args]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    timed = [(time.monotonic() - start, line.rstrip("\n")) for line in proc.stdout]
    proc.wait(timeout=timeout)
    reader.join()
    stdout = "".join(f"{line}\n" for _, line in timed)
    return SimpleNamespace(returncode=proc.returncode, stdout=stdout, stderr="".join(err), timed=timed)


def _train_roads(*args: str) -> subprocess.CompletedProcess:
    """``tlgeo train`` of the sample roads with the tiny test backbone and ``args``."""
    return _tlgeo("train", "--data", str(SAMPLE / "roads"), "--backbone", "tiny_cnn", *args)


def test_two_workers_train_in_sync_and_only_the_chief_writes_the_run(tmp_path):
    runs = tmp_path / "runs"
    out = _train_roads_timed(
        "--weights",
        "none",
        "--strategy",
        "scratch",
        "--img-size",
        "32",
        "--epochs",
        "4",
        "--folds",
        "2",
        "--runs",
        str(runs),
        "--cluster",
        "local:2",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "cluster local:2: 2 worker(s) train synchronously" in out.stdout
    # the chief's lines reach the terminal while it trains, not all at the end: the first epoch line came seconds
    # before the last (3 fits of up to 4 epochs) — and none twice
    epochs = [t for t, line in out.timed if "epoch" in line and "loss" in line]
    assert len(epochs) >= 6 and epochs[-1] - epochs[0] > 1.0, out.timed
    assert sum("weights checksum" in ln for ln in out.stdout.splitlines()) == 3
    assert "2 cluster workers in sync" in out.stdout
    # every fit (2 folds + the refit) ended with one checksum of all variables, BatchNorm statistics included;
    # the driver compared it with the other worker's and found them equal (else exit 2)
    assert sum("weights checksum" in ln and "(worker 0 of 2)" in ln for ln in out.stdout.splitlines()) == 3
    written = list(runs.iterdir())
    assert len(written) == 1 and written[0].is_dir()  # one run folder, no second worker's copy, no temp left
    run_dir = written[0]
    assert out.stdout.strip().splitlines()[-1] == str(run_dir)

    history = pd.read_csv(run_dir / "history.csv")
    assert (history["workers"] == 2).all()  # every epoch was a 2-worker synchronous epoch
    refit = history[history["fold"].astype(str) == "all"]
    assert len(refit) >= 2 and refit["loss"].iloc[-1] < refit["loss"].iloc[0]  # the loss decreases
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["strategy"] == "scratch"
    assert "2 cluster workers in sync" in str(config["device"])  # the run says how it was trained

    from tlgeo.predict import Predictor
    from tlgeo.runs import load_run
    from tlgeo.tiles import read_tile

    run = load_run(run_dir)
    predictor = Predictor(run)
    scene = SAMPLE / "roads" / "imagery" / "ngong.tif"
    chips = np.stack([read_tile(scene, (c * 64, 0, 64, 64), run.bands, out_size=run.img_size).image for c in range(3)])
    probs = predictor.predict_images(chips)
    (p,) = probs.values()
    assert p.shape == (3, 3) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_cluster_training_refuses_feature_strategies_before_any_work(tmp_path):
    out = _train_roads(
        "--strategy",
        "frozen_head",
        "--runs",
        str(tmp_path / "runs"),
        "--cluster",
        "local:2",
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "--strategy frozen_head does not train on a cluster" in out.stderr
    assert "fine_tune_all" in out.stderr and not (tmp_path / "runs").exists()


def test_workers_get_the_command_without_the_cluster_flag():
    argv = ["--data", "d", "--cluster", "local:2", "--epochs", "3", "--cluster=tcp://h:1"]
    assert strip_cluster_flag(argv) == ["--data", "d", "--epochs", "3"]


def test_the_driver_refuses_workers_that_end_with_other_weights():
    from tlgeo.distributed.train import ClusterTrainingError, _check_same_weights

    same = {i: {"stdout": f"• fold 0: weights checksum ab12 (worker {i} of 2)\n"} for i in range(2)}
    _check_same_weights(same)  # equal: nothing raised
    other = {**same, 1: {"stdout": "• fold 0: weights checksum ff00 (worker 1 of 2)\n"}}
    with pytest.raises(ClusterTrainingError, match="worker 1 ended with other weights than worker 0"):
        _check_same_weights(other)
