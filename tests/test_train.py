"""Training engine on tasks built in code with the tiny backbone: every strategy, multi-task masking, runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from tlgeo.config import TrainConfig
from tlgeo.errors import RunError, TrainingError
from tlgeo.runs import list_runs, load_run, save_run
from tlgeo.train import TrainCallback, compare, comparison_table, prepare_experiment, train

FAST = TrainConfig(backbone="tiny_cnn", img_size=32, epochs=2, head_epochs=8, folds=2, batch_size=16, patience=2)


class Recorder(TrainCallback):
    def __init__(self):
        self.stages, self.fractions, self.epochs, self.folds = [], [], [], []

    def on_stage(self, message):
        self.stages.append(message)

    def on_progress(self, fraction, message):
        self.fractions.append(fraction)

    def on_epoch_end(self, record):
        self.epochs.append(record)

    def on_fold_end(self, fold, metrics):
        self.folds.append(fold)


def test_compare_runs_every_strategy_on_the_same_folds(roads_task):
    strategies = ["features_linear", "frozen_head", "truncated", "fine_tune_top", "fine_tune_all", "scratch"]
    rec = Recorder()
    results = compare(roads_task, FAST, strategies, callback=rec)
    assert list(results) == strategies
    folds = {s: r.splits["fold"].tolist() for s, r in results.items()}
    assert all(f == folds["scratch"] for f in folds.values())
    table = comparison_table(results)
    assert list(table["strategy"]) == strategies
    assert table["accuracy"].between(0, 1).all()
    n_labelled = int((roads_task.tiles["quality"] >= 0).sum())
    for r in results.values():
        assert r.model is None  # compare does not refit
        assert sum(f.metrics["targets"]["quality"]["n"] for f in r.folds) == n_labelled
        assert len(r.oof) == n_labelled and (r.oof["pred"] >= 0).all()
        np.testing.assert_allclose(r.oof[["prob_good", "prob_fair", "prob_poor"]].sum(axis=1), 1.0, rtol=1e-4)
    phases = {e["phase"] for e in rec.epochs}
    assert {"head", "fine_tune", "scratch"} <= phases
    assert rec.fractions[-1] == pytest.approx(1.0)
    assert all(0.0 <= f <= 1.0 for f in rec.fractions)
    # the tiles are easy: frozen features of even a random CNN separate them well
    assert results["features_linear"].metrics["mean"]["accuracy"]["mean"] > 0.6


def test_multitask_masks_missing_values(villages_task):
    result = train(villages_task, replace(FAST, strategy="frozen_head", refit=False))
    per_fold = result.metrics["per_fold"]
    n_b = int((villages_task.tiles["B"] >= 0).sum())
    assert sum(f["targets"]["B"]["n"] for f in per_fold) == n_b < len(villages_task.tiles)
    assert set(result.metrics["targets"]) == {"A", "B"}
    assert {"A_true", "A_pred", "B_prob_0", "B_prob_1"} <= set(result.oof.columns)
    assert (result.oof.loc[result.oof["B_true"] == -1, "B_pred"] >= 0).all()  # still predicted, just not scored


def test_train_save_load_predict_roundtrip(roads_task, tmp_path):
    result = train(roads_task, replace(FAST, strategy="fine_tune_top"))
    run = save_run(result, roads_task.settings, tmp_path / "runs")
    assert sorted(p.name for p in run.path.iterdir()) == [
        "config.json",
        "history.csv",
        "metrics.json",
        "model.keras",
        "oof.csv",
        "splits.csv",
    ]
    cfg = json.loads((run.path / "config.json").read_text())
    assert cfg["targets"] == {"quality": ["good", "fair", "poor"]}
    assert cfg["tiles"]["size"] == 32 and cfg["train"]["img_size"] == 32
    assert cfg["versions"]["keras"]
    again = load_run(run.path)
    model = again.load_model()
    x = np.random.default_rng(0).integers(0, 255, size=(3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), result.model.predict(x, verbose=0)["quality"], atol=1e-5)
    assert [r.run_id for r in list_runs(tmp_path / "runs")] == [run.run_id]
    hist = again.history()
    assert {"fold", "phase", "epoch", "loss"} <= set(hist.columns)
    splits = again.splits()
    assert splits["lon"].between(36, 38).all() and splits["lat"].between(-2, 0).all()


def test_run_folders_are_atomic_and_checked(roads_task, tmp_path, monkeypatch):
    result = train(roads_task, replace(FAST, strategy="features_linear"))
    runs = tmp_path / "runs"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("pandas.DataFrame.to_csv", boom)
    with pytest.raises(OSError, match="disk full"):
        save_run(result, roads_task.settings, runs)
    monkeypatch.undo()
    assert list(runs.iterdir()) == []  # nothing half-written
    run = save_run(result, roads_task.settings, runs)
    (run.path / "metrics.json").unlink()
    with pytest.raises(RunError, match=r"incomplete: missing metrics\.json"):
        load_run(run.path)
    assert list_runs(runs) == []
    result.model = None
    with pytest.raises(RunError, match="no model"):
        save_run(result, roads_task.settings, runs)


def test_training_errors_are_clear(roads_task):
    tiny = roads_task.tiles.copy()
    tiny["quality"] = -1
    empty = replace(roads_task, tiles=tiny)
    with pytest.raises(TrainingError, match="No labelled tiles"):
        prepare_experiment(empty, FAST)
    with pytest.raises(Exception, match="Unknown backbone 'resnet9000'"):
        train(roads_task, replace(FAST, backbone="resnet9000"))


def test_auto_strategy_uses_the_advisor(roads_task):
    result = train(roads_task, replace(FAST, strategy="auto", refit=False))
    assert result.recommendation is not None
    # the advisor measures: the pick is one of its probes, and the run's config is that pick
    rec = result.recommendation
    assert result.config.strategy == rec.strategy in {p["strategy"] for p in rec.probes}
    assert rec.probes[0]["probe"] == "chip_stats" and rec.metric == "balanced_accuracy"


@pytest.mark.slow
def test_multi_device_and_mixed_precision_paths(tmp_path):
    """MirroredStrategy over 2 logical CPUs (the multi-GPU code path) and mixed_float16, in a fresh process."""
    code = f"""
import sys; sys.path.insert(0, {str(os.getcwd())!r})
from pathlib import Path
from dataclasses import replace
from tests.conftest import make_task_data
from tlgeo.devices import distribution_strategy, device_report
from tlgeo.train import train, TrainConfig
assert distribution_strategy().num_replicas_in_sync == 2, "expected 2 replicas"
print(device_report().summary)
data = make_task_data(Path({str(tmp_path)!r}))
cfg = TrainConfig(backbone="tiny_cnn", img_size=32, epochs=1, head_epochs=2, folds=2, batch_size=16,
                  strategy="fine_tune_all", mixed_precision="on", refit=False)
r = train(data, cfg)
print("ACC", r.metrics["mean"]["accuracy"]["mean"])
"""
    env = {**os.environ, "TLGEO_LOGICAL_CPUS": "2"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 logical CPUs mirrored" in out.stdout
    acc = float(out.stdout.split("ACC")[-1])
    assert 0.0 <= acc <= 1.0
