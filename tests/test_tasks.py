"""The task registry (tlgeo.tasks) and the ``classes`` task end to end: train, save, predict a scene."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from tests.test_labels_classes import BANDS, CRS, H, W, _xy, make_scene
from tlgeo.cli import build_parser, main
from tlgeo.config import TaskSettings, TileConfig, TrainConfig
from tlgeo.errors import ConfigError
from tlgeo.flags import Flag
from tlgeo.metrics import classification_metrics
from tlgeo.tasks import Task, get_task, list_tasks, load_task, register_task
from tlgeo.viz import QUALITATIVE, class_colors


# --------------------------------------------------------------------------------------------- registry
def test_builtin_tasks_are_registered_with_their_kinds():
    assert list_tasks()[:3] == ["roads", "villages", "classes"]
    kinds = {name: get_task(name).target_kind for name in list_tasks()}
    assert kinds["roads"] == kinds["villages"] == "ordered" and kinds["classes"] == "categorical"
    assert all(isinstance(get_task(n), Task) for n in list_tasks())
    assert {get_task(n).section for n in ("roads", "villages", "classes")} == {"roads", "villages", "labels"}


def test_unknown_task_is_one_line_naming_the_known_ones(tmp_path, capsys):
    with pytest.raises(ConfigError) as info:
        get_task("forest")
    assert str(info.value).count("\n") == 0
    assert "Unknown task 'forest'" in str(info.value) and "roads, villages, classes" in str(info.value)
    (tmp_path / "tlgeo.toml").write_text('task = "forest"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="Unknown task 'forest'"):
        load_task(tmp_path)
    with pytest.raises(SystemExit):  # argparse refuses an unknown --task with its choices
        build_parser().parse_args(["train", "--data", str(tmp_path), "--task", "forest"])
    assert "invalid choice: 'forest'" in capsys.readouterr().err


def test_labels_subcommands_keep_their_flags():
    parser = build_parser()
    roads = parser.parse_args(["labels", "roads", "--log", "a.csv", "b.csv", "--out", "o.geojson"])
    assert (roads.labels_kind, roads.log, roads.min_speed, roads.thresholds) == (
        "roads",
        [Path("a.csv"), Path("b.csv")],
        None,
        None,
    )
    villages = parser.parse_args(
        ["labels", "villages", "--indicators", "v.csv", "--data", "d", "--out", "o.geojson", "--columns", "BF"]
    )
    assert (villages.labels_kind, villages.columns, villages.overwrite) == ("villages", "BF", False)
    classes = parser.parse_args(
        ["labels", "classes", "--labels", "l.gpkg", "--column", "lc", "--data", "d", "--out", "o.geojson"]
    )
    assert (classes.labels_kind, classes.column, classes.rare) == ("classes", "lc", None)


class _CountTask:
    """A task written in one module: labels every grid tile of a scene with the parity of its column."""

    name = "parity"
    title = "Column parity"
    target_kind = "categorical"
    section = "labels"

    def label_settings(self, settings):
        return settings.labels

    def find_labels(self, taskdir):
        return []

    def load(self, taskdir, settings):
        from tlgeo.labels import TaskData
        from tlgeo.tiles import tile_index

        tiles = tile_index(Path(taskdir) / "imagery", size=settings.tiles.size)
        tiles["parity"] = tiles["col"] % 2
        return TaskData(self.name, settings, tiles, {"parity": ["even", "odd"]}, ordered={"parity": False})

    labels_help = "parity of each tile's column"
    labels_flags = (Flag("--even-only", "count even columns only", kind="switch"),)

    def run_labels(self, args):
        return 0 if args.even_only else 3


def test_a_new_task_needs_one_class_and_one_registration(tmp_path, monkeypatch):
    from tlgeo.tasks import base

    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    register_task(_CountTask())
    make_scene(tmp_path)
    (tmp_path / "tlgeo.toml").write_text('task = "parity"\n[tiles]\nsize = 32\n', encoding="utf-8")
    data = load_task(tmp_path)
    assert data.task == "parity" and len(data.tiles) == (H // 32) * (W // 32)
    assert main(["labels", "parity", "--even-only"]) == 0 and main(["labels", "parity"]) == 3
    with pytest.raises(ConfigError, match="target_kind"):
        register_task(replace_kind(_CountTask(), "sideways"))


def replace_kind(task, kind):
    task.target_kind = kind
    return task


# --------------------------------------------------------------------------------------------- ordered or not
def test_unordered_targets_get_no_within_one_and_qualitative_colours():
    y = np.array([0, 1, 2, 2])
    prob = np.eye(3)[[0, 2, 2, 0]]
    ordered = classification_metrics(y, prob, ["a", "b", "c"])
    unordered = classification_metrics(y, prob, ["a", "b", "c"], ordered=False)
    assert ordered["within_one"] == 0.75 and "within_one" not in unordered
    assert unordered["accuracy"] == ordered["accuracy"] == 0.5
    assert list(class_colors(["water", "forest", "crop"], ordered=False).values()) == list(QUALITATIVE[:3])
    assert class_colors(["0", "1", "2"]) != class_colors(["0", "1", "2"], ordered=False)


# --------------------------------------------------------------------------------------------- end to end
def _training_folder(tmp_path: Path) -> TaskSettings:
    """A 4-band uint16 checkerboard of 32-px squares (dark 'forest', bright 'field'); 4 labels per square."""
    from rasterio.transform import from_origin

    from tests.conftest import write_geotiff

    rng = np.random.default_rng(3)
    dark = (np.arange(H)[:, None] // 32 + np.arange(W)[None, :] // 32) % 2 == 0
    data = np.where(dark, rng.normal(600, 80, (4, H, W)), rng.normal(2600, 150, (4, H, W)))
    (tmp_path / "imagery").mkdir(parents=True)
    write_geotiff(
        tmp_path / "imagery" / "scene.tif",
        np.clip(data, 1, 60000).astype(np.uint16),
        crs=CRS,
        transform=from_origin(600_000.0, 9_100_000.0, 5.0, 5.0),
        nodata=0,
    )
    pts, cls = [], []
    for r in range(8, H, 16):
        for c in range(8, W, 16):
            pts.append(Point(*_xy(c + 0.5, r + 0.5)))
            cls.append("forest" if dark[r, c] else "field")
    gpd.GeoDataFrame({"lc": cls}, geometry=pts, crs=CRS).to_file(tmp_path / "points.geojson")
    return TaskSettings(
        task="classes", tiles=TileConfig(size=16, bands=BANDS), labels={"file": "points.geojson", "column": "lc"}
    )


def test_classes_train_save_predict_smoke(tmp_path):
    from tlgeo.predict import predict_scene
    from tlgeo.runs import load_run, save_run
    from tlgeo.train import train

    settings = _training_folder(tmp_path / "task")
    data = load_task(tmp_path / "task", settings=settings)
    assert len(data.labelled()) == (H // 16) * (W // 16)
    config = TrainConfig(backbone="tiny_cnn", img_size=32, epochs=1, head_epochs=20, folds=2, batch_size=16)
    result = train(data, replace(config, strategy="features_linear"))
    assert "within_one" not in result.metrics["mean"] and result.metrics["mean"]["accuracy"]["mean"] > 0.8
    run = save_run(result, data.settings, tmp_path / "runs")
    cfg = json.loads((run.path / "config.json").read_text(encoding="utf-8"))
    assert cfg["task"] == "classes" and cfg["targets"] == {"lc": ["field", "forest"]}
    assert cfg["labels"]["column"] == "lc" and cfg["ordered"] == {"lc": False}
    assert cfg["tiles"]["size"] == 16 and cfg["tiles"]["bands"]["bands"] == [3, 2, 1]
    assert load_run(run.path).ordered == {"lc": False}
    pred = predict_scene(run, tmp_path / "task" / "imagery" / "scene.tif").predictions
    assert len(pred) == (H // 16) * (W // 16), "prediction uses grid windows of the chip size"
    dark = ((pred["row"] * 16 // 32 + pred["col"] * 16 // 32) % 2 == 0).to_numpy()
    assert (pred["label"].to_numpy() == np.where(dark, "forest", "field")).mean() > 0.8
    assert {"prob_field", "prob_forest"} <= set(pred.columns)


@pytest.mark.slow
def test_classes_cli_compare_and_train(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    settings = _training_folder(tmp_path / "task")
    (tmp_path / "task" / "tlgeo.toml").write_text(
        'task = "classes"\n[labels]\nfile = "points.geojson"\ncolumn = "lc"\n[tiles]\nsize = 16\n'
        '[tiles.bands]\nbands = [3, 2, 1]\nscaling = "percentile"\n',
        encoding="utf-8",
    )
    assert settings.task == "classes"
    common = ["--data", str(tmp_path / "task"), "--backbone", "tiny_cnn", "--weights", "none", "--img-size", "32"]
    common += ["--folds", "2", "--epochs", "1", "--head-epochs", "5", "--quiet"]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tlgeo",
            "compare",
            *common,
            "--strategies",
            "features_linear,frozen_head",
            "--json",
            str(tmp_path / "cmp.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    table = json.loads((tmp_path / "cmp.json").read_text(encoding="utf-8"))
    assert table["task"] == "classes"
    for strategy in ("features_linear", "frozen_head"):
        mean = table["results"][strategy]["metrics"]["mean"]
        assert {"accuracy", "balanced_accuracy"} <= set(mean) and "within_one" not in mean
    out = subprocess.run(
        [sys.executable, "-m", "tlgeo", "train", *common, "--strategy", "frozen_head", "--runs", str(tmp_path / "r")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    assert json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["labels"]["column"] == "lc"
