"""Regression meets issue 14 and 15: ``chip_stats`` as a regressor (save/load, prediction over scenes), ``auto`` by R²
with ridge probes (default metric r2, class weighting none, class metrics refused), calibration skipped and recorded,
Grad-CAM of the predicted value and a one-line error for explaining a ``chip_stats`` run.

Fixtures are generated values tasks (tests/test_values.py: a 4-band uint16 scene in UTM 18N, brightness rising to
the east, a made-up share following it) and, for the probe sentence, a set whose value is set only by the NIR mean.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.test_values import FAST, W, make_values_task
from tlgeo.cli import main
from tlgeo.tasks import load_task

COMMON = ["--backbone", "tiny_cnn", "--img-size", "32", "--folds", "2", "--split", "random", "--head-epochs", "5"]


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> Path:
    return make_values_task(tmp_path_factory.mktemp("values-adv") / "task", n=48, seed=4)


def _tile(scene: Path, out: Path, col: int, row: int = 40, size: int = 16) -> Path:
    from rasterio.windows import Window

    with rasterio.open(scene) as src:
        win = Window(col, row, size, size)
        profile = {**src.profile, "width": size, "height": size, "transform": src.window_transform(win)}
        data = src.read(window=win)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
    return out


# --------------------------------------------------------------------------------------------- chip_stats regressor
def test_chip_stats_regressor_round_trip_and_scene_prediction(task, tmp_path):
    from sklearn.ensemble import HistGradientBoostingRegressor

    from tlgeo.chip_stats import TRUSTED_TYPES, ChipStatsModel, load_model
    from tlgeo.runs import OTHER_MODEL_FILES

    MODEL_FILE = OTHER_MODEL_FILES["chip_stats"]
    from tlgeo.predict import predict_scene
    from tlgeo.runs import load_run, save_run
    from tlgeo.train import train

    data = load_task(task)
    result = train(data, replace(FAST, strategy="chip_stats"))
    mean = result.metrics["mean"]
    assert {"r2", "mae", "rmse", "spearman"} <= set(mean) and "accuracy" not in mean
    assert mean["r2"]["mean"] > 0.5  # brightness sets the share: per-band means find it
    assert result.config.class_weights == "none"
    run = save_run(result, data.settings, tmp_path / "runs")
    assert (run.path / MODEL_FILE).is_file() and not (run.path / "model.keras").exists()
    import skops.io as sio

    assert set(sio.get_untrusted_types(file=run.path / MODEL_FILE)) <= set(TRUSTED_TYPES)
    model = load_model(run.path / MODEL_FILE)
    assert isinstance(model, ChipStatsModel) and isinstance(model.estimators["share"], HistGradientBoostingRegressor)
    rng = np.random.default_rng(0)
    feats = rng.uniform(0, 255, size=(5, model.estimators["share"].n_features_in_))
    np.testing.assert_array_equal(
        model.predict_features(feats)["share"], result.model.predict_features(feats)["share"]
    )  # the loaded regressor predicts exactly as the trained one
    assert model.predict_features(feats)["share"].shape == (5, 1)
    pred = predict_scene(load_run(run.path), task / "imagery" / "scene.tif")
    frame = pred.predictions
    assert "value" in frame and not any(c.startswith("prob_") for c in frame.columns)
    x = frame["window"].map(lambda w: w[0]).to_numpy()
    assert frame.loc[x > 2 * W / 3, "value"].mean() > frame.loc[x < W / 3, "value"].mean() + 20
    assert frame["value"].between(0, 110).all()  # in the labels' units, not probabilities


# --------------------------------------------------------------------------------------------- auto by R²
def test_auto_on_values_measures_ridge_probes_by_r2(task, tmp_path, capsys):
    from tlgeo.train import train

    data = load_task(task)
    result = train(data, replace(FAST, strategy="auto", refit=False))
    rec = result.recommendation
    assert rec.metric == "r2" and rec.class_weights == "none" and result.config.metric == "r2"
    names = [p["probe"] for p in rec.probes]
    assert names[0] == "chip_stats" and sum(n.startswith("ridge@") for n in names) == 3
    assert not any(n.startswith("linear@") for n in names)
    measured = [p for p in rec.probes if p["note"] == "measured"]
    assert len(measured) == 4 and all(-1.5 < p["mean"] <= 1.0 for p in measured)
    base = rec.probes[0]["mean"]
    best = max(p["mean"] for p in rec.probes if p["probe"].startswith("ridge@"))
    sd = max(rec.probes[0]["sd"], next(p["sd"] for p in rec.probes if p["mean"] == best))
    assert rec.transfer_helps == (best - base > sd)
    if rec.transfer_helps:
        assert rec.verdict is None and rec.strategy == "features_linear" and "beats chip_stats" in rec.reason
    else:
        assert rec.verdict == f"transfer from ImageNet does not help on this data: {best:.2f} vs {base:.2f}"
        assert rec.strategy == "chip_stats"
    assert "by r2" in rec.reason and "class weighting none" in rec.reason
    assert result.config.strategy == rec.strategy and "r2" in result.metrics["mean"]


def nir_only_values(folder: Path, n: int = 64, seed: int = 1) -> Path:
    """Chips of i.i.d. noise (no texture) whose value is |NIR mean − middle|: a V-shaped function of one band
    statistic. Gradient boosting on chip statistics fits it; a linear probe on pooled features, which follow the
    band means nearly linearly, cannot bend it."""
    import geopandas as gpd
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    from tests.conftest import write_geotiff

    rng = np.random.default_rng(seed)
    side, size = 8, 16
    value = rng.uniform(0, 1, size=(side, side))
    img = rng.normal(1000, 150, size=(4, side * size, side * size))
    for r in range(side):
        for c in range(side):
            img[3, r * size : (r + 1) * size, c * size : (c + 1) * size] += 1500 * value[r, c]
    (folder / "imagery").mkdir(parents=True)
    x0, y0 = 300_000.0, 5_000_000.0
    write_geotiff(
        folder / "imagery" / "nir.tif",
        np.clip(img, 1, 60000).astype(np.uint16),
        crs="EPSG:32633",
        transform=from_origin(x0, y0, 10.0, 10.0),
    )
    pts = [
        Point(x0 + (c * size + size / 2) * 10, y0 - (r * size + size / 2) * 10)
        for r in range(side)
        for c in range(side)
    ]
    gdf = gpd.GeoDataFrame({"yield": 10 * np.abs(value.ravel() - 0.5)}, geometry=pts, crs="EPSG:32633")
    gdf.to_file(folder / "labels.gpkg")
    (folder / "tlgeo.toml").write_text(
        'task = "values"\n[labels]\nfile = "labels.gpkg"\ncolumn = "yield"\n[tiles]\nsize = 16\n'
        '[tiles.bands]\nbands = [1, 2, 3, 4]\nnames = ["blue", "green", "red", "nir"]\nscaling = "fixed"\n'
        "value_range = [0, 4000]\n"
    )
    return folder


def test_auto_keeps_chip_stats_when_transfer_does_not_help_on_values(tmp_path):
    from tlgeo.train import TrainCallback, train

    class Lines(TrainCallback):
        def __init__(self):
            self.lines = []

        def on_stage(self, message):
            self.lines.append(message)

    data = load_task(nir_only_values(tmp_path / "nir"))
    cb = Lines()
    result = train(data, replace(FAST, strategy="auto", refit=False, folds=3), callback=cb)
    rec = result.recommendation
    base, best = rec.probes[0], max((p for p in rec.probes[1:]), key=lambda p: p["mean"])
    assert base["probe"] == "chip_stats" and base["mean"] > 0.7 and best["probe"].startswith("ridge@")
    assert rec.transfer_helps is False and rec.strategy == "chip_stats" and result.config.strategy == "chip_stats"
    assert rec.verdict == f"transfer from ImageNet does not help on this data: {best['mean']:.2f} vs {base['mean']:.2f}"
    assert any(rec.verdict in line and "(r2;" in line for line in cb.lines)  # printed, comparing R² values


# --------------------------------------------------------------------------------------------- CLI: metric, weighting
def test_cli_values_metric_and_class_weights(task, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["train", "--data", str(task), *COMMON, "--runs", str(runs), "--strategy", "auto"]
    assert main([*args, "--metric", "balanced_accuracy"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is for classes" in err and "--metric r2" in err
    assert not runs.exists() or not any(runs.iterdir())
    rc = main(["train", "--data", str(task), *COMMON, "--runs", str(runs), "--strategy", "features_linear"])
    out = capsys.readouterr().out
    assert rc == 0 and "Class weighting: none" in out and "class_weights='balanced' does not apply" in out
    run = next(runs.iterdir())
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["class_weights"] == "none" and config["train"]["metric"] == "r2"
    metrics = json.loads((run / "metrics.json").read_text())
    assert "skipped" in metrics["calibration"]["share"] and "temperature" not in metrics["calibration"]["share"]
    assert config["temperature"] == {}


def test_r2_on_a_classes_task_is_refused(tmp_path, capsys):
    from tests.conftest import make_task_data
    from tlgeo.errors import ConfigError
    from tlgeo.train import train

    data = make_task_data(tmp_path)
    with pytest.raises(ConfigError, match="r2 is for continuous targets"):
        train(data, replace(FAST, strategy="features_linear", metric="r2"))
    assert replace(FAST).metric is None  # default: by task


# --------------------------------------------------------------------------------------------- calibration, explain
def test_values_predictions_are_not_softmaxed_and_explain_the_value(task, tmp_path, capsys):
    from PIL import Image

    from tlgeo.explain import grad_cam
    from tlgeo.predict import load_predictor
    from tlgeo.runs import load_run
    from tlgeo.tiles import read_tile

    runs = tmp_path / "runs"
    for strategy in ("features_linear", "chip_stats"):
        args = ["train", "--data", str(task), *COMMON, "--epochs", "1", "--runs", str(runs), "--strategy", strategy]
        assert main([*args, "--quiet"]) == 0
    by = {json.loads((p / "config.json").read_text())["train"]["strategy"]: p for p in runs.iterdir()}
    scene = task / "imagery" / "scene.tif"
    tiles = [_tile(scene, tmp_path / "west.tif", 8), _tile(scene, tmp_path / "east.tif", 136)]
    predictor = load_predictor(load_run(by["features_linear"]))
    chips = np.stack([read_tile(t, None, predictor.bands, out_size=predictor.img_size).image for t in tiles])
    values = predictor.predict_images(chips)["share"]
    assert values.shape == (2, 1) and values[1, 0] > values[0, 0] and not np.allclose(values, 1.0)
    heat, out = grad_cam(predictor.model, chips)
    np.testing.assert_allclose(out, values, rtol=1e-4, atol=1e-3)  # Grad-CAM explains the predicted value
    assert heat.shape == (2, 32, 32) and np.isfinite(heat).all() and heat.max() <= 1.0
    out_dir = tmp_path / "cams"
    assert main(["explain", *map(str, tiles), "--run", str(by["features_linear"]), "--out", str(out_dir)]) == 0
    pngs = sorted(out_dir.glob("*_gradcam.png"))
    assert [p.name for p in pngs] == ["east_gradcam.png", "west_gradcam.png"]
    assert np.asarray(Image.open(pngs[0])).shape == (32, 32, 3)
    capsys.readouterr()
    refused = tmp_path / "refused"
    assert main(["explain", str(tiles[0]), "--run", str(by["chip_stats"]), "--out", str(refused)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "chip_stats" in err and "no feature map" in err
    assert not refused.exists() or not any(refused.iterdir())
