"""chip_stats (the non-deep baseline), its safe model files, and the measured ``auto`` advisor."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import make_task_data, write_geotiff
from tests.test_cli import tlgeo
from tlgeo._utils import from_dict
from tlgeo.config import TrainConfig
from tlgeo.errors import ConfigError, RunError
from tlgeo.runs import load_run, save_run
from tlgeo.train import TrainCallback, train

FAST = TrainConfig(backbone="tiny_cnn", img_size=32, epochs=2, head_epochs=8, folds=2, batch_size=16, patience=2)


class Lines(TrainCallback):
    def __init__(self):
        self.lines = []

    def on_stage(self, message):
        self.lines.append(message)


def means_only_task(tmp, *, n: int = 10, size: int = 16, seed: int = 3):
    """4-band 16-bit tiles whose classes differ only in per-band means: every pixel i.i.d. noise, no texture."""
    from tlgeo.config import BandConfig, TaskSettings, TileConfig
    from tlgeo.labels import TaskData
    from tlgeo.tiles import tile_index

    rng = np.random.default_rng(seed)
    cls = np.kron(rng.integers(0, 3, size=(n // 2, n // 2)), np.ones((2, 2), dtype=int))
    means = np.array([[900, 1100, 1000, 2500], [1000, 1000, 1100, 2200], [1100, 900, 900, 2800]])
    img = np.zeros((4, n * size, n * size), np.uint16)
    for r in range(n):
        for c in range(n):
            tile = rng.normal(means[cls[r, c]][:, None, None], 150, size=(4, size, size))
            img[:, r * size : (r + 1) * size, c * size : (c + 1) * size] = np.clip(tile, 1, 60000)
    path = write_geotiff(tmp / "means.tif", img)
    index = tile_index(path, size=size)
    index["quality"] = cls[index["row"].to_numpy(), index["col"].to_numpy()]
    bands = BandConfig(
        bands=(1, 2, 3, 4), names=("blue", "green", "red", "nir"), scaling="fixed", value_range=(0, 4000)
    )
    settings = TaskSettings(task="roads", tiles=TileConfig(size=size, bands=bands))
    return TaskData(
        task="roads", settings=settings, tiles=index, targets={"quality": ["a", "b", "c"]}, report=["built in code"]
    )


def test_chip_features_mask_nodata_and_add_indices():
    from tlgeo.chip_stats import chip_features, feature_names

    img = np.zeros((2, 8, 8, 4), np.float32)
    img[0, :4] = [10, 20, 30, 90]  # top half valid, bottom half nodata (0 in every band)
    img[1] = [10, 20, 90, 30]
    names = ("blue", "green", "red", "nir")
    f = chip_features(img, names)
    cols = feature_names(4, names)
    assert f.shape == (2, len(cols)) and "ndvi_mean" in cols and "ndwi_mean" in cols
    row = dict(zip(cols, f[0], strict=True))
    assert row["red_mean"] == pytest.approx(30) and row["red_sd"] == pytest.approx(0)  # nodata left out
    assert row["valid_share"] == pytest.approx(0.5)
    assert row["ndvi_mean"] == pytest.approx((90 - 30) / 120, abs=1e-4)
    assert dict(zip(cols, f[1], strict=True))["ndvi_mean"] == pytest.approx((30 - 90) / 120, abs=1e-4)
    assert len(feature_names(4)) == 4 * 7 + 1  # no roles, no indices


def test_chip_stats_run_round_trip_and_prediction(tmp_path):
    from tlgeo.predict import load_predictor

    data = means_only_task(tmp_path)
    result = train(data, replace(FAST, strategy="chip_stats", class_weights="sqrt"))
    assert result.metrics["mean"]["balanced_accuracy"]["mean"] > 0.8
    run = save_run(result, data.settings, tmp_path / "runs")
    files = sorted(p.name for p in run.path.iterdir())
    assert "model.skops" in files and "model.keras" not in files
    cfg = json.loads((run.path / "config.json").read_text())
    assert cfg["train"]["strategy"] == "chip_stats" and cfg["train"]["class_weights"] == "sqrt"
    assert cfg["input"]["channels"] == 4
    again = load_run(run.path)
    model = again.load_model()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, size=(5, 32, 32, 4)).astype("float32")
    want = result.model.predict_images(x)["quality"]
    np.testing.assert_allclose(model.predict_images(x)["quality"], want)
    pred = load_predictor(run.path)
    np.testing.assert_allclose(pred.predict_images(x)["quality"], want, atol=1e-6)
    frame = pred.predict_images(np.zeros((1, 32, 32, 4), np.uint8))["quality"]
    assert frame.shape == (1, 3) and frame.sum() == pytest.approx(1, abs=1e-5)


def _tamper(path):
    """Rewrite one member of the skops zip so the tree names a type tlgeo does not trust."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    schema = json.loads(members["schema.json"])

    def walk(node):
        if isinstance(node, dict):
            if node.get("__class__") == "TreePredictor":
                node["__module__"], node["__class__"] = "os", "system"
                return True
            return any(walk(v) for v in node.values())
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    assert walk(schema)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)


def test_tampered_chip_stats_model_is_refused_in_one_line(tmp_path):
    data = means_only_task(tmp_path)
    run = save_run(train(data, replace(FAST, strategy="chip_stats")), data.settings, tmp_path / "runs")
    model_file = run.path / "model.skops"
    _tamper(model_file)
    with pytest.raises(RunError, match=r"untrusted type\(s\) os\.system; refused to load it"):
        load_run(run.path).load_model()
    out = tlgeo("predict", "--run", str(run.path), "--out", str(tmp_path / "p.geojson"), str(tmp_path / "means.tif"))
    assert out.returncode == 2, out.stderr
    assert "untrusted type(s) os.system" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p.geojson").exists()
    model_file.write_bytes(b"not a zip at all")
    with pytest.raises(RunError, match="Cannot read the chip_stats model"):
        load_run(run.path).load_model()


def test_auto_prints_the_probe_table_and_keeps_the_baseline_when_transfer_does_not_help(tmp_path):
    data = means_only_task(tmp_path)
    cb = Lines()
    result = train(data, replace(FAST, strategy="auto", refit=False, metric="macro_f1"), callback=cb)
    rec = result.recommendation
    assert [p["probe"] for p in rec.probes] == ["chip_stats", "linear@stage1", "linear@stage2", "linear@last"]
    assert all(p["note"] == "measured" and 0 <= p["mean"] <= 1 for p in rec.probes)
    assert result.config.strategy == rec.strategy == "chip_stats"
    assert result.config.class_weights == rec.class_weights == "sqrt"  # macro F1 → sqrt weighting
    assert rec.metric == "macro_f1" and rec.transfer_helps is False
    assert rec.verdict.startswith("transfer from ImageNet does not help on this data: ")
    assert any(line.startswith("probe") and "seconds" in line for line in cb.lines)  # the table header
    assert any(rec.verdict in line for line in cb.lines)
    best_deep = max(p["mean"] for p in rec.probes[1:])
    assert f"{best_deep:.2f} vs {rec.probes[0]['mean']:.2f}" in rec.verdict


def test_auto_picks_a_deep_probe_when_it_wins_by_more_than_the_fold_sd(tmp_path):
    """Classes that differ in texture only (same mean and sd per band): statistics fail, convolutions do not."""
    from tlgeo.advisor import advise

    data = make_task_data(tmp_path)
    from tlgeo.train import prepare_experiment

    exp = prepare_experiment(data, FAST)
    y = exp.targets.y["quality"]
    rng = np.random.default_rng(0)
    good = rng.normal(0.8, 0.05, (len(y), 4)) * (y[:, None] >= 0) + y[:, None] * 3.0

    def deep(stages):
        return {s: good + rng.normal(0, 0.01, good.shape) for s in (*stages, None)}

    _, _, _, rec = advise(
        exp,
        replace(FAST, strategy="auto"),
        chip_features=lambda: rng.normal(size=(len(y), 5)),  # noise: the baseline cannot learn
        deep_features=deep,
        deep_cost_s=0.0,
        finetune_trial=None,
        finetune_cost_s=0.0,
        stages=("stem", "stage1", "stage2", "stage3"),
        default_mid="stage1",
        rarest=30,
    )
    assert rec.transfer_helps is True and rec.verdict is None
    assert rec.strategy in ("truncated", "features_linear") and "transfer helps" in rec.reason


def test_budget_is_respected(tmp_path):
    """A budget too small for the forward pass: only the baseline is measured, the rest are skipped with why."""
    data = means_only_task(tmp_path)
    result = train(data, replace(FAST, strategy="auto", refit=False, budget_s=0.01))
    rec = result.recommendation
    assert rec.probes[0]["probe"] == "chip_stats" and rec.probes[0]["note"] == "measured"
    assert [p["note"].startswith("skipped: ") for p in rec.probes[1:]] == [True, True, True]
    assert all(p["mean"] is None for p in rec.probes[1:])
    assert not any(p["probe"] == "fine_tune_all" for p in rec.probes)
    assert result.config.strategy == "chip_stats" and rec.budget_s == 0.01
    assert "budget" in rec.reason


def test_fine_tuning_is_tried_only_when_its_cost_fits_the_budget(tmp_path):
    from tlgeo.advisor import advise
    from tlgeo.train import prepare_experiment

    data = make_task_data(tmp_path)
    exp = prepare_experiment(data, FAST)
    y = exp.targets.y["quality"]
    rng = np.random.default_rng(0)
    signal = y[:, None] * 1.0 + rng.normal(0, 0.6, (len(y), 3))
    calls = []

    def trial(weighting):
        calls.append(weighting)
        _, te = exp.folds.train_test(0)
        return {"quality": np.eye(3)[np.clip(y[te], 0, 2)]}  # perfect on fold 1

    kw = dict(
        chip_features=lambda: rng.normal(size=(len(y), 5)),
        deep_features=lambda stages: dict.fromkeys((*stages, None), signal),
        deep_cost_s=0.0,
        finetune_trial=trial,
        stages=("stem", "stage1", "stage2", "stage3"),
        default_mid="stage1",
        rarest=30,
    )
    cfg = replace(FAST, strategy="auto", budget_s=60.0)
    _, _, _, rec = advise(exp, cfg, finetune_cost_s=1e6, **kw)
    assert calls == [] and rec.strategy != "fine_tune_all" and "Fine-tuning was not tried" in rec.reason
    _, _, _, rec = advise(exp, cfg, finetune_cost_s=1.0, **kw)
    assert calls == ["balanced"] and rec.probes[-1]["probe"] == "fine_tune_all"
    assert rec.probes[-1]["note"] == "fold 1 only"


def test_class_weights_setting_and_old_configs():
    from tlgeo.datasets import Targets

    assert from_dict(TrainConfig, {"class_weights": True}).class_weights == "balanced"
    assert from_dict(TrainConfig, {"class_weights": False}).class_weights == "none"
    with pytest.raises(ConfigError, match="Unknown class_weights 'inverse'"):
        TrainConfig(class_weights="inverse")
    with pytest.raises(ConfigError, match="Unknown metric"):
        TrainConfig(metric="auc")
    t = Targets(y={"c": np.array([0, 0, 0, 0, 0, 0, 1, 1, -1])}, classes={"c": ["a", "b"]})
    none, bal, sq = (t.sample_weights(m)["c"] for m in ("none", "balanced", "sqrt"))
    assert none[-1] == bal[-1] == sq[-1] == 0
    assert none[6] == none[0] == 1
    assert bal[6] / bal[0] == pytest.approx(3.0) and sq[6] / sq[0] == pytest.approx(np.sqrt(3.0))
    assert (t.sample_weights(True)["c"] == bal).all()


def test_cli_refuses_bad_advisor_flags_in_one_line(tmp_path):
    for flags, msg in (
        (["--budget-s", "0"], "--budget-s"),
        (["--metric", "auc"], "--metric"),
        (["--class-weights", "x"], "--class-weights"),
    ):
        out = tlgeo("train", "--data", str(tmp_path), "--strategy", "auto", *flags)
        assert out.returncode == 2 and msg in out.stderr and "Traceback" not in out.stderr
