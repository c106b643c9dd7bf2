"""Task ``values`` (regression): numeric labels → chips → regression heads, metrics, predictions (tiny backbone).

The fixture differs from the bundled samples: a 4-band uint16 scene in UTM 18N at 10 m whose brightness rises from
west to east, and points whose value (a made-up "impervious share", 0–100) follows that brightness plus noise.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point

from tests.conftest import write_geotiff
from tlgeo.cli import main
from tlgeo.config import TrainConfig
from tlgeo.errors import LabelError
from tlgeo.metrics import combine_targets, regression_metrics, summarize_folds
from tlgeo.tasks import get_task, load_task

CRS = "EPSG:32618"
X0, Y0, RES = 500_000.0, 4_500_000.0, 10.0
W, H = 160, 96
FAST = TrainConfig(
    backbone="tiny_cnn", img_size=32, epochs=2, head_epochs=30, folds=2, batch_size=16, patience=5, split="random"
)
TOML = """task = "values"
[labels]
file = "labels.gpkg"
column = "share"
[tiles]
size = 16
[tiles.bands]
bands = [1, 2, 3, 4]
scaling = "fixed"
value_range = [0, 5000]
"""


def share_at(col: np.ndarray) -> np.ndarray:
    return 100.0 * col / W


def make_values_task(folder: Path, *, values=None, n: int = 48, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    cols = np.arange(W, dtype="float64")
    ramp = 500 + 4000 * cols / W  # brightness rises to the east in every band
    data = np.clip(ramp[None, None, :] + rng.normal(0, 60, (4, H, W)), 1, 60000).astype(np.uint16)
    (folder / "imagery").mkdir(parents=True, exist_ok=True)
    write_geotiff(folder / "imagery" / "scene.tif", data, crs=CRS, transform=from_origin(X0, Y0, RES, RES), nodata=0)
    pc = rng.uniform(10, W - 10, n)
    pr = rng.uniform(10, H - 10, n)
    share = share_at(pc) + rng.normal(0, 2, n) if values is None else values
    pts = [Point(X0 + c * RES, Y0 - r * RES) for c, r in zip(pc, pr, strict=True)]
    gpd.GeoDataFrame({"share": share}, geometry=pts, crs=CRS).to_file(folder / "labels.gpkg")
    (folder / "tlgeo.toml").write_text(TOML)
    return folder


# --------------------------------------------------------------------------------------------- metrics
def test_regression_metrics_on_a_generated_target():
    rng = np.random.default_rng(3)
    y = rng.normal(10, 2, 200)
    perfect = regression_metrics(y, y)
    assert perfect["r2"] == pytest.approx(1.0) and perfect["mae"] == 0 and perfect["spearman"] == pytest.approx(1.0)
    shifted = regression_metrics(y, (y + 1.0)[:, None])  # (N, 1) as a model predicts
    assert shifted["mae"] == pytest.approx(1.0) and shifted["rmse"] == pytest.approx(1.0)
    assert shifted["r2"] == pytest.approx(1 - 1.0 / y.var()) and shifted["bias"] == pytest.approx(1.0)
    mean_only = regression_metrics(y, np.full_like(y, y.mean()))
    assert mean_only["r2"] == pytest.approx(0.0, abs=1e-12) and np.isnan(mean_only["spearman"])
    noisy = y + rng.normal(0, 1, y.size)  # known R² ≈ 1 − 1/4, monotone transform keeps Spearman
    m = regression_metrics(y, noisy)
    assert m["r2"] == pytest.approx(1 - ((noisy - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    assert 0.6 < m["r2"] < 0.85
    assert regression_metrics(y, np.exp(y))["spearman"] == pytest.approx(1.0)
    with_missing = regression_metrics(np.r_[y, np.nan], np.r_[y, 1e9])
    assert with_missing["n"] == 200 and with_missing["r2"] == pytest.approx(1.0)
    folds = summarize_folds([combine_targets({"v": perfect}), combine_targets({"v": shifted})])
    assert folds["mean"]["mae"]["mean"] == pytest.approx(0.5) and "accuracy" not in folds["mean"]


# --------------------------------------------------------------------------------------------- task
def test_values_task_reads_a_float_target_with_quantile_strata(tmp_path):
    make_values_task(tmp_path)
    data = load_task(tmp_path)
    assert get_task("values").target_kind == "continuous"
    assert data.targets == {"share": []} and data.is_continuous("share")
    assert data.tiles["share"].dtype == np.float64 and len(data.labelled()) == 48
    from tlgeo.datasets import Targets

    t = Targets.from_frame(data.labelled(), data.targets)
    strata = t.strata("share", bins=4)
    assert sorted(np.bincount(strata)) == [12, 12, 12, 12]
    z = t.standardized(t.regression_stats()).y["share"]
    assert z.mean() == pytest.approx(0, abs=1e-9) and z.std() == pytest.approx(1)
    assert any("share from" in line for line in data.report)


def test_values_train_save_load_predict_outputs_values(tmp_path):
    from tlgeo.export import write_geojson, write_prediction_geotiff
    from tlgeo.predict import predict_scene
    from tlgeo.runs import load_run, save_run
    from tlgeo.train import compare, train

    make_values_task(tmp_path / "task")
    data = load_task(tmp_path / "task")
    results = compare(data, FAST, ["features_linear", "frozen_head", "fine_tune_all"])
    for s, r in results.items():
        mean = r.metrics["mean"]
        assert {"r2", "mae", "rmse", "spearman"} <= set(mean) and "accuracy" not in mean, s
        oof = r.oof
        assert oof["pred"].notna().all() and np.issubdtype(oof["pred"].dtype, np.floating)
        # predictions come back in the labels' units (the standardisation is folded into the output layer)
        assert abs(oof["pred"].mean() - oof["true"].mean()) < oof["true"].std(), s
    # brightness explains the share: the linear head on (random tiny-CNN) features must find it
    assert results["features_linear"].metrics["mean"]["spearman"]["mean"] > 0.5

    result = train(data, replace(FAST, strategy="frozen_head"))
    run = save_run(result, data.settings, tmp_path / "runs")
    assert json.loads((run.path / "config.json").read_text())["targets"] == {"share": []}
    again = load_run(run.path)
    pred = predict_scene(again, tmp_path / "task" / "imagery" / "scene.tif")
    frame = pred.predictions
    assert "value" in frame.columns and not any(c.startswith("prob_") or c == "class_index" for c in frame.columns)
    x = frame["window"].map(lambda w: w[0]).to_numpy()
    west, east = frame.loc[x < W / 3, "value"].mean(), frame.loc[x > 2 * W / 3, "value"].mean()
    assert east > west  # brighter east → higher share
    gj = write_geojson(frame, tmp_path / "pred.geojson")
    back = gpd.read_file(gj)
    np.testing.assert_allclose(back["value"].to_numpy(), frame["value"].to_numpy(), rtol=1e-6)
    tif = write_prediction_geotiff(pred, tmp_path / "task" / "imagery" / "scene.tif", tmp_path / "pred.tif")
    with rasterio.open(tif) as ds:
        assert ds.count == 1 and ds.descriptions == ("value",) and ds.dtypes[0] == "float32"
        band = ds.read(1)
    valid = band[band != -1]
    assert valid.size and np.isin(valid, frame["value"].to_numpy().astype("float32")).all()


# --------------------------------------------------------------------------------------------- CLI + bad input
def _labels_args(folder: Path, out: Path) -> list[str]:
    return [
        "labels",
        "values",
        "--labels",
        str(folder / "labels.gpkg"),
        "--column",
        "share",
        "--data",
        str(folder),
        "--out",
        str(out),
    ]


def test_cli_labels_values_writes_chips(tmp_path, capsys):
    make_values_task(tmp_path)
    out = tmp_path / "chips.geojson"
    rc = main(_labels_args(tmp_path, out))
    assert rc == 0
    chips = gpd.read_file(out)
    assert len(chips) == 48 and chips["share"].dtype == np.float64


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (["12.5"] * 20 + ["n/a?"] + ["3"] * 27, ["not numeric", "row 21", "n/a?"]),
        ([7.0] * 48, ["one value only"]),
        ([1.0] * 10 + [np.inf] + [2.0] * 37, ["infinite", "row 11"]),
    ],
)
def test_cli_bad_values_are_one_line_exit_2_nothing_written(tmp_path, capsys, values, words):
    make_values_task(tmp_path, values=values)
    out = tmp_path / "chips.geojson"
    rc = main(_labels_args(tmp_path, out))
    err = capsys.readouterr().err.strip()
    assert rc == 2 and not out.exists()
    assert len(err.splitlines()) <= 2 and "Traceback" not in err  # the error line and its hint
    for w in words:
        assert w in err


def test_values_csv_missing_values_are_left_out_and_reported(tmp_path):
    make_values_task(tmp_path)
    gdf = gpd.read_file(tmp_path / "labels.gpkg")
    table = pd.DataFrame({"lat": gdf.to_crs(4326).geometry.y, "lon": gdf.to_crs(4326).geometry.x})
    table["share"] = gdf["share"].round(2).astype(str)
    table.loc[[3, 5], "share"] = ""
    table.to_csv(tmp_path / "labels.csv", index=False)
    (tmp_path / "tlgeo.toml").write_text(TOML.replace("labels.gpkg", "labels.csv"))
    data = load_task(tmp_path)
    assert len(data.labelled()) == 46
    assert any("2 label(s) without a value" in line for line in data.report)
    with pytest.raises(LabelError):
        from tlgeo.tasks.values import numeric_values

        numeric_values(np.array(["1", "x"], dtype=object), tmp_path / "labels.csv", "share")


def test_cli_train_compare_predict_values(tmp_path, capsys):
    make_values_task(tmp_path / "task", n=40, seed=2)
    common = ["--data", str(tmp_path / "task"), "--backbone", "tiny_cnn", "--img-size", "32", "--folds", "2"]
    common += ["--split", "random", "--epochs", "1", "--head-epochs", "5"]
    assert (
        main(["compare", *common, "--strategies", "features_linear,frozen_head", "--json", str(tmp_path / "c.json")])
        == 0
    )
    table = json.loads((tmp_path / "c.json").read_text())["table"]
    assert [r["strategy"] for r in table] == ["features_linear", "frozen_head"]
    assert all("±" in r["r2"] and "±" in r["spearman"] and "accuracy" not in r for r in table)
    assert main(["train", *common, "--strategy", "features_linear", "--runs", str(tmp_path / "runs")]) == 0
    run = next((tmp_path / "runs").iterdir())
    scene = tmp_path / "task" / "imagery" / "scene.tif"
    outs = [tmp_path / "p.geojson", tmp_path / "p.tif", tmp_path / "p.csv"]
    args = ["predict", str(scene), "--run", str(run), "--out", str(outs[0]), "--geotiff", str(outs[1])]
    assert main([*args, "--csv", str(outs[2])]) == 0
    gj, csv = gpd.read_file(outs[0]), pd.read_csv(outs[2])
    assert "value" in gj.columns and "value" in csv.columns and "class_index" not in csv.columns
    np.testing.assert_allclose(gj["value"], csv["value"], rtol=1e-6)
    with rasterio.open(outs[1]) as ds:
        assert ds.descriptions == ("value",)
    assert "share: predicted from" in capsys.readouterr().out
    assert main(["plan", "--run", str(run), "--budget", "3", "--out", str(tmp_path / "plan.geojson")]) == 2
    assert "classification run" in capsys.readouterr().err and not (tmp_path / "plan.geojson").exists()


def test_villages_continuous_fractions_are_regression_targets(tmp_path):
    from tests.test_labels_villages import _fraction_task
    from tlgeo.train import train

    task = _fraction_task(tmp_path)
    toml = 'task = "villages"\n[tiles]\nsize = 64\n[villages]\nindicators = ["LIT"]\ncontinuous = true\n'
    (task / "tlgeo.toml").write_text(toml)
    data = load_task(task)
    assert data.targets == {"LIT": []} and data.tiles["LIT"].dtype == np.float64
    t = data.tiles.set_index("tile_id")
    assert t.loc["scene_r001_c001", "LIT"] == pytest.approx((0.05 + 0.95 + 0.90) / 3)  # mean fraction, not a level
    assert t["LIT"].isna().any() and len(data.labelled()) == t["LIT"].notna().sum()
    result = train(data, replace(FAST, strategy="frozen_head", folds=2, refit=False))
    assert {"r2", "mae", "rmse", "spearman"} <= set(result.metrics["targets"]["LIT"])
    assert result.oof["pred"].between(-1, 2).all()
