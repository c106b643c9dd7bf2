"""Calibration (tlgeo.calibration): reliability and ECE, a temperature fitted on out-of-fold probabilities, saved in
the run and applied at prediction; runs saved before calibration predict as before; the explain CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT, train_saved_run, write_geotiff
from tlgeo.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_scale,
    fit_temperature,
    reliability,
)
from tlgeo.config import TrainConfig


def _overconfident(n: int, seed: int = 0, t_true: float = 3.0):
    """Labels drawn from softmax(z / t_true), reported as softmax(z): too confident by a temperature of t_true."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, size=(n, 4))
    true_p = np.exp(z / t_true) / np.exp(z / t_true).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(4, p=p) for p in true_p])
    shown = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return shown, y


def test_temperature_recovers_overconfidence_and_lowers_ece():
    probs, y = _overconfident(4000)
    t = fit_temperature(probs, y)
    assert t == pytest.approx(3.0, rel=0.12)
    before = expected_calibration_error(probs, y)
    after = expected_calibration_error(apply_temperature(probs, t), y)
    assert before > 0.1 and after < 0.03


def test_reliability_bins_and_missing_labels():
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [np.nan, np.nan], [0.6, 0.4]])
    y = np.array([0, 1, 0, 0, -1])
    table = reliability(probs, y, n_bins=10)
    assert table["n"].tolist() == [1, 2]  # NaN row and the unlabelled row left out
    assert table["accuracy"].tolist() == [1.0, 0.5]
    assert expected_calibration_error(probs, y) == pytest.approx((1 * 0.45 + 2 * 0.45) / 3)


def test_fit_scale_is_the_minimum_of_the_log_loss():
    probs, y = _overconfident(500, seed=3, t_true=0.5)  # under-confident this time: scale > 1
    logits = np.log(probs)
    grid = np.exp(np.linspace(np.log(0.01), np.log(100), 4001))

    def nll(a):
        z = a * logits
        z = z - z.max(axis=1, keepdims=True)
        return -(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[np.arange(len(y)), y].mean()

    best = grid[np.argmin([nll(a) for a in grid])]
    assert fit_scale(logits, y) == pytest.approx(best, rel=0.01) and best > 1
    assert np.array_equal(apply_temperature(probs, 1.0), probs)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("calib")
    config = TrainConfig(
        backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2, head_epochs=8, batch_size=16
    )
    return train_saved_run(tmp, tmp / "runs", config)[1]


def test_run_saves_temperature_and_ece_before_and_after(run):
    metrics = json.loads((run.path / "metrics.json").read_text())
    cal = metrics["calibration"]["quality"]
    assert set(cal) == {"temperature", "ece_before", "ece_after", "n"}
    assert 0.05 <= cal["temperature"] <= 20 and cal["n"] > 50
    assert cal["ece_after"] <= cal["ece_before"] + 1e-9
    assert run.config["temperature"] == {"quality": cal["temperature"]}
    oof = run.oof()
    probs = oof[[c for c in oof if c.startswith("prob_")]].to_numpy()
    assert expected_calibration_error(probs, oof["true"].to_numpy()) == pytest.approx(cal["ece_before"])


def test_prediction_applies_the_temperature_and_old_runs_predict_as_before(run, tmp_path, rng):
    from tlgeo.predict import load_predictor
    from tlgeo.runs import load_run

    images = rng.integers(0, 256, size=(6, 32, 32, 3)).astype("float32")
    new = load_predictor(run)
    raw = new.model.predict(images, verbose=0)
    raw = raw["quality"] if isinstance(raw, dict) else raw
    t = run.temperature["quality"]
    np.testing.assert_allclose(new.predict_images(images)["quality"], apply_temperature(raw, t), atol=1e-5)
    old_dir = tmp_path / run.run_id
    shutil.copytree(run.path, old_dir)
    config = json.loads((old_dir / "config.json").read_text())
    del config["temperature"]  # as written before calibration existed
    (old_dir / "config.json").write_text(json.dumps(config))
    old = load_predictor(load_run(old_dir))
    assert old.temperature == {"quality": 1.0}
    np.testing.assert_allclose(old.predict_images(images)["quality"], raw, atol=1e-5)


def test_explain_cli_writes_pngs_and_refuses_to_overwrite(run, tmp_path, rng):
    tiles = [
        write_geotiff(tmp_path / f"t{i}.tif", rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)) for i in range(2)
    ]
    out = tmp_path / "cams"
    cmd = [sys.executable, "-m", "tlgeo", "explain", "--run", str(run.path), "--out", str(out), *map(str, tiles)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    from PIL import Image

    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == ["t0_gradcam.png", "t1_gradcam.png"]
    assert Image.open(pngs[0]).size == (32, 32)
    stamp = pngs[0].stat().st_mtime_ns
    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    assert again.returncode == 2 and "--overwrite" in again.stderr and "Traceback" not in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1 and pngs[0].stat().st_mtime_ns == stamp
    done = subprocess.run([*cmd, "--overwrite"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    bad = subprocess.run([*cmd[:-2], str(tmp_path / "missing.tif")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert bad.returncode == 2 and "missing.tif" in bad.stderr and "Traceback" not in bad.stderr
