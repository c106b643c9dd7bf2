"""Any bands, any dtype: band settings, per-band scaling, N-channel backbones, runs and prediction on N-band scenes.

Fixtures are multi-band scenes built in code (4- and 6-band, 12/16-bit, float, with nodata) — unlike the bundled
8-bit RGB sample.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import ROOT, write_geotiff
from tlgeo._utils import from_dict, to_dict
from tlgeo.config import BandConfig, TaskSettings, TileConfig, TrainConfig
from tlgeo.datasets import fit_bands, load_images
from tlgeo.errors import BandError, CompatibilityError, ConfigError, RasterError
from tlgeo.tiles import band_moments, read_tile, rgb_composite, tile_index

NAMES6 = ("blue", "green", "red", "nir", "swir1", "swir2")


def _scene(tmp_path, rng, *, bands=4, dtype="uint16", high=4095, size=(48, 64), nodata=0, name="scene.tif"):
    data = rng.integers(1, high, size=(bands, *size)).astype(dtype)
    if nodata is not None:
        data[:, :6, :10] = nodata
    return write_geotiff(tmp_path / name, data, nodata=nodata), data


# --------------------------------------------------------------------------------------------- settings
def test_band_config_takes_any_count_names_and_per_band_ranges():
    six = BandConfig(bands=[1, 2, 3, 4, 5, 6], names=list(NAMES6), scaling="fixed", value_range=[[0, 10]] * 6)
    assert six.bands == (1, 2, 3, 4, 5, 6) and six.names == NAMES6
    assert six.ranges(6) == ((0.0, 10.0),) * 6
    assert six.role("red") == 2 and six.role("nir") == 3 and six.role("swir9") is None
    assert BandConfig(bands=[2], names=["NIR"]).role("nir") == 0  # case-insensitive
    assert BandConfig(bands=(4,)).bands == (4,)
    # round trip through config.json
    back = from_dict(BandConfig, json.loads(json.dumps(to_dict(six))))
    assert back == six
    std = BandConfig(bands=[1, 2], scaling="standardize", stats=[[100.0, 10.0], [50, 5]])
    assert std.standardize_ranges(2) == ((70.0, 130.0), (35.0, 65.0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"bands": []}, "one or more band numbers"),
        ({"bands": [0, 1]}, "counted from 1"),
        ({"bands": [1, 2], "names": ["red"]}, "names must name each"),
        ({"names": ["red", "green", "blue"]}, "names must name each"),
        ({"scaling": "zscore"}, "Unknown scaling"),
        ({"bands": [1, 2], "scaling": "fixed", "value_range": [[0, 1], [0, 1], [0, 1]]}, "value_range has 3"),
        ({"bands": [1, 2], "scaling": "fixed", "value_range": [[0, 1], [5, 1]]}, "low < high"),
        ({"bands": [1], "scaling": "standardize", "stats": [[1.0, 0.0]]}, "sd > 0"),
    ],
)
def test_band_config_refuses_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BandConfig(**kwargs)


def test_train_config_first_conv_rule():
    assert TrainConfig().first_conv == "auto"
    with pytest.raises(ConfigError, match="first_conv"):
        TrainConfig(first_conv="mean")


# --------------------------------------------------------------------------------------------- reading
@pytest.mark.parametrize("count", [1, 2, 4, 6])
def test_any_band_count_reads_one_channel_per_band(tmp_path, rng, count):
    path, data = _scene(tmp_path, rng, bands=6, dtype="uint8", high=256)
    chosen = tuple(range(count, 0, -1))  # reversed order: channels follow `bands`
    tile = read_tile(path, bands=BandConfig(bands=chosen))
    assert tile.image.shape == (48, 64, count)
    valid = data[0] > 0
    for c, b in enumerate(chosen):
        np.testing.assert_array_equal(tile.image[..., c][valid], data[b - 1][valid])
    assert not tile.image[~valid].any()


def test_8bit_unscaled_stays_uint8_bit_for_bit(tmp_path, rng):
    path, data = _scene(tmp_path, rng, bands=5, dtype="uint8", high=256)
    index = tile_index(path, size=16)
    images = load_images(index, BandConfig(bands=[5, 1, 3, 2]), 16, use_cache=False)
    assert images.dtype == np.uint8 and images.shape == (len(index), 16, 16, 4)
    co, ro, w, h = index["window"].iloc[-1]
    np.testing.assert_array_equal(images[-1], np.moveaxis(data[[4, 0, 2, 1], ro : ro + h, co : co + w], 0, -1))


@pytest.mark.parametrize("dtype, high", [("uint16", 4095), ("uint16", 65535), ("int16", 10000), ("float32", 1.0)])
def test_12_16_bit_and_float_percentile_per_band_not_rounded(tmp_path, rng, dtype, high):
    if dtype == "float32":
        data = rng.uniform(0.01, 1.0, size=(4, 48, 64)).astype("float32")
        data[:, :6, :10] = 0
        path = write_geotiff(tmp_path / "f.tif", data, nodata=0)
    else:
        path, data = _scene(tmp_path, rng, dtype=dtype, high=high)
    bands = BandConfig(bands=[1, 2, 3, 4], scaling="percentile")
    images = load_images(tile_index(path), bands, 48, use_cache=False)  # whole file as one tile, resampled to 48
    assert images.dtype == np.float32 and images.shape == (1, 48, 48, 4)
    assert images.min() >= 0.0 and images.max() <= 255.0
    assert not np.allclose(images, np.rint(images))  # kept as float, not rounded to 8 bit
    tile = read_tile(path, bands=bands)
    for c in range(4):
        values = data[c][data[c] > 0].astype("float64")
        lo, hi = np.percentile(values, [2, 98])
        expect = np.clip((data[c].astype("float32") - lo) * (255.0 / (hi - lo)), 0, 255)
        valid = tile.valid
        np.testing.assert_allclose(tile.image[..., c][valid], expect[valid], rtol=2e-4, atol=0.05)


def test_fixed_scaling_one_range_per_band(tmp_path, rng):
    path, data = _scene(tmp_path, rng, bands=3, dtype="uint16", high=4000)
    bands = BandConfig(bands=[1, 2, 3], scaling="fixed", value_range=[[0, 4000], [1000, 3000], [0, 2000]])
    tile = read_tile(path, bands=bands)
    v = tile.valid
    np.testing.assert_allclose(tile.image[..., 0][v], (data[0][v] / 4000 * 255).astype("float32"), rtol=1e-5)
    np.testing.assert_allclose(tile.image[..., 1][v], np.clip((data[1][v] - 1000.0) / 2000 * 255, 0, 255), rtol=1e-5)
    np.testing.assert_allclose(tile.image[..., 2][v], np.clip(data[2][v] / 2000 * 255, 0, 255), rtol=1e-5)


def test_standardize_measures_training_chips_and_maps_z(tmp_path, rng):
    path, data = _scene(tmp_path, rng, bands=4, dtype="uint16", high=4095)
    index = tile_index(path, size=16)
    train = index.iloc[:6]  # the "training chips": statistics come from these windows only
    bands = BandConfig(bands=[4, 2], scaling="standardize")
    fitted = fit_bands(train, bands)
    assert fitted.dtype == "uint16" and fitted.source_bands == 4
    pixels = {4: [], 2: []}
    for co, ro, w, h in train["window"]:
        valid = data[0, ro : ro + h, co : co + w] > 0
        for b in pixels:
            pixels[b].append(data[b - 1, ro : ro + h, co : co + w][valid].astype("float64"))
    for (mean, sd), b in zip(fitted.stats, (4, 2), strict=True):
        values = np.concatenate(pixels[b])
        assert mean == pytest.approx(values.mean()) and sd == pytest.approx(values.std())
    tile = read_tile(path, window=index["window"].iloc[10], bands=fitted)
    co, ro, w, h = index["window"].iloc[10]
    raw = data[3, ro : ro + h, co : co + w].astype("float64")
    z = (raw - fitted.stats[0][0]) / fitted.stats[0][1]
    np.testing.assert_allclose(tile.image[..., 0], np.clip(127.5 + 42.5 * z, 0, 255), rtol=1e-4, atol=1e-3)
    with pytest.raises(ConfigError, match="standardize"):
        read_tile(path, bands=bands)  # no statistics: refuse rather than guess
    # load_images fits them itself when asked without them (UI previews), with the same result
    np.testing.assert_array_equal(
        load_images(train, bands, 16, use_cache=False), load_images(train, fitted, 16, use_cache=False)
    )
    assert band_moments(list(train["path"]), list(train["window"]), bands) == fitted.stats


def test_bands_out_of_range_and_scenes_that_differ_are_one_line_errors(tmp_path, rng):
    a, _ = _scene(tmp_path, rng, bands=4, name="a.tif")
    b, _ = _scene(tmp_path, rng, bands=3, name="b.tif")
    c, _ = _scene(tmp_path, rng, bands=4, dtype="float32", high=2, name="c.tif")
    with pytest.raises(BandError) as err:
        read_tile(a, bands=BandConfig(bands=[1, 5], scaling="percentile"))
    assert "Band 5" in str(err.value) and "a.tif" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(BandError) as err:
        read_tile(a, bands=BandConfig(scaling="percentile"))  # 4 bands: no guess
    assert "bands = [1, 2, 3, 4]" in str(err.value)
    bands = BandConfig(bands=[1, 2, 3], scaling="percentile")
    with pytest.raises(BandError) as err:
        load_images(tile_index([a, b], size=16), bands, 16, use_cache=False)
    msg = str(err.value)
    assert "b.tif has 3 band(s)" in msg and "a.tif has 4" in msg and "\n" not in msg
    with pytest.raises(RasterError, match=r"float32 data but .*uint16"):
        fit_bands(tile_index([a, c], size=16), bands)


def test_rgb_composite_uses_named_bands(tmp_path, rng):
    images = rng.uniform(0, 255, size=(2, 8, 8, 6)).astype("float32")
    out = rgb_composite(images, BandConfig(bands=[1, 2, 3, 4, 5, 6], names=NAMES6))
    assert out.dtype == np.uint8 and out.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(out[..., 0], np.clip(np.rint(images[..., 2]), 0, 255).astype(np.uint8))
    np.testing.assert_array_equal(out[..., 2], np.clip(np.rint(images[..., 0]), 0, 255).astype(np.uint8))
    grey = rgb_composite(images[..., :1], BandConfig(bands=[1]))
    assert (grey[..., 0] == grey[..., 2]).all()


# --------------------------------------------------------------------------------------------- backbones
def test_first_conv_leaves_three_channels_unchanged():
    """With C = 3 nothing is adapted: same layers, same weights, same outputs as the RGB builder, whatever rule."""
    import keras

    from tlgeo.backbones import backbone_info, get_backbone

    info = backbone_info("tiny_cnn")
    plain = info.builder((32, 32, 3), "imagenet")
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    for rule in ("auto", "cyclic", "rgb_mean"):
        model = get_backbone("tiny_cnn", "imagenet", (32, 32, 3), first_conv=rule, band_names=["nir", "red", "x"])
        assert [w.shape for w in model.get_weights()] == [w.shape for w in plain.get_weights()]
        for a, b in zip(model.get_weights(), plain.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(plain(x)))
        assert model.get_layer("preprocess").get_config()["scale"] == [1 / 127.5] * 3
    assert isinstance(model.get_layer("stem_conv"), keras.layers.Conv2D)


def test_cyclic_and_rgb_mean_rules_shapes_and_scales():
    from tlgeo.backbones import backbone_info, get_backbone
    from tlgeo.backbones.channels import channel_mix

    rgb = backbone_info("tiny_cnn").builder((32, 32, 3), "imagenet").get_layer("stem_conv").get_weights()[0]
    cyc = get_backbone("tiny_cnn", "imagenet", (32, 32, 6), first_conv="cyclic").get_layer("stem_conv")
    k = cyc.get_weights()[0]
    assert k.shape == (3, 3, 6, 8)
    np.testing.assert_allclose(k, np.concatenate([rgb, rgb], axis=2) * 0.5, rtol=1e-6)
    named = get_backbone("tiny_cnn", "imagenet", (32, 32, 6), first_conv="rgb_mean", band_names=NAMES6)
    k = named.get_layer("stem_conv").get_weights()[0]
    np.testing.assert_allclose(k[:, :, 2], rgb[:, :, 0] * 0.5, rtol=1e-6)  # red
    np.testing.assert_allclose(k[:, :, 0], rgb[:, :, 2] * 0.5, rtol=1e-6)  # blue
    np.testing.assert_allclose(k[:, :, 3], rgb.mean(axis=2) * 0.5, rtol=1e-5)  # nir: mean of RGB
    np.testing.assert_allclose(k.sum(axis=2), rgb.sum(axis=2), rtol=1e-5)  # total kernel mass kept
    # on an image whose bands all carry the same value, the stem sees what the RGB network sees on grey
    grey = np.random.default_rng(1).uniform(0, 255, size=(2, 32, 32, 1)).astype("float32")
    import keras

    def stem(model, x):
        return np.asarray(keras.Model(model.input, model.get_layer("stem_conv").output)(x))

    rgb_model = backbone_info("tiny_cnn").builder((32, 32, 3), "imagenet")
    np.testing.assert_allclose(stem(named, np.repeat(grey, 6, -1)), stem(rgb_model, np.repeat(grey, 3, -1)), atol=1e-4)
    assert channel_mix("cyclic", 1).tolist() == [[3.0, 0.0, 0.0]]
    assert channel_mix("auto", 4).sum() == pytest.approx(3.0)  # no names: auto falls back to cyclic
    with pytest.raises(ConfigError, match="rgb_mean"):
        get_backbone("tiny_cnn", "imagenet", (32, 32, 4), first_conv="rgb_mean", band_names=["a", "b", "c", "d"])


def test_bgr_backbone_adapts_kernel_in_rgb_order(tmp_path):
    """ResNet50 sees BGR: its kernel's input axis is reversed before mixing, and channels are no longer flipped."""
    from tlgeo.backbones import get_backbone

    rgb = get_backbone("resnet50", None, (32, 32, 3))
    file = tmp_path / "resnet50.weights.h5"
    rgb.save_weights(file)
    kernel = rgb.get_layer("conv1_conv").get_weights()[0]  # (7, 7, 3=B,G,R, 64)
    four = get_backbone("resnet50", file, (32, 32, 4), first_conv="rgb_mean", band_names=["red", "green", "blue", "n"])
    k = four.get_layer("conv1_conv").get_weights()[0]
    assert k.shape == (7, 7, 4, 64)
    np.testing.assert_allclose(k[:, :, 0], kernel[:, :, 2] * 0.75, rtol=1e-5)  # red ← the R slice (last in BGR)
    np.testing.assert_allclose(k[:, :, 2], kernel[:, :, 0] * 0.75, rtol=1e-5)
    pre = four.get_layer("preprocess").get_config()
    assert pre["reverse_channels"] is False
    assert pre["offset"][:3] == pytest.approx([-123.68, -116.779, -103.939])
    assert pre["offset"][3] == pytest.approx(np.mean([-123.68, -116.779, -103.939]))


# --------------------------------------------------------------------------------------------- end to end
FAST = TrainConfig(
    backbone="tiny_cnn", strategy="features_linear", img_size=32, folds=2, head_epochs=8, batch_size=16, patience=2
)


def _multiband_task(tmp, *, n=10, size=32, bands=None):
    """A roads-like task over a 4-band 16-bit scene whose classes differ in band 4 (NIR) only."""
    from tlgeo.labels import TaskData

    tmp.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    coarse = rng.integers(0, 3, size=((n + 1) // 2, (n + 1) // 2))
    cls = np.kron(coarse, np.ones((2, 2), dtype=int))[:n, :n]
    img = np.zeros((4, n * size, n * size), np.uint16)
    for r in range(n):
        for c in range(n):
            tile = rng.normal(1500, 200, size=(4, size, size))
            tile[3] = rng.normal([1000, 2500, 4000][cls[r, c]], 300, size=(size, size))
            img[:, r * size : (r + 1) * size, c * size : (c + 1) * size] = np.clip(tile, 1, 4095)
    img[:, :5, :] = 0  # nodata strip
    path = write_geotiff(tmp / "scene4.tif", img, nodata=0)
    index = tile_index(path, size=size)
    y = cls[index["row"].to_numpy(), index["col"].to_numpy()].copy()
    y[::9] = -1
    index["quality"] = y
    bands = bands or BandConfig(bands=[1, 2, 3, 4], names=["blue", "green", "red", "nir"], scaling="standardize")
    settings = TaskSettings(task="roads", tiles=TileConfig(size=size, bands=bands))
    task = TaskData(task="roads", settings=settings, tiles=index, targets={"quality": ["good", "fair", "poor"]})
    return task, path, img


@pytest.fixture(scope="module")
def multiband_run(tmp_path_factory):
    from tlgeo.runs import save_run
    from tlgeo.train import train

    tmp = tmp_path_factory.mktemp("bands")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLGEO_CACHE", str(tmp / "cache"))
        task, path, img = _multiband_task(tmp)
        result = train(task, FAST)
        run = save_run(result, task.settings, tmp / "runs")
    return task, run, path, img, result


def test_train_save_load_predict_on_a_4_band_16_bit_scene(multiband_run, tmp_path):
    from tlgeo.predict import load_predictor, predict_scene
    from tlgeo.runs import load_run

    task, run, path, _, result = multiband_run
    config = json.loads((run.path / "config.json").read_text())
    saved = config["tiles"]["bands"]
    assert saved["bands"] == [1, 2, 3, 4] and saved["names"] == ["blue", "green", "red", "nir"]
    assert saved["dtype"] == "uint16" and saved["source_bands"] == 4 and saved["scaling"] == "standardize"
    assert len(saved["stats"]) == 4 and all(sd > 0 for _, sd in saved["stats"])
    assert config["train"]["first_conv"] in ("cyclic", "rgb_mean")
    assert config["input"]["channels"] == 4 and config["input"]["stats"] == saved["stats"]
    # the NIR-only classes are learnt (chance is 1/3)
    assert result.metrics["mean"]["accuracy"]["mean"] > 0.45
    predictor = load_predictor(load_run(run.path))
    assert predictor.model.input_shape[-1] == 4 and predictor.bands.stats == run.bands.stats
    preds = predict_scene(predictor, path).predictions
    labelled = task.tiles[task.tiles["quality"] >= 0]
    merged = preds.set_index("tile_id").loc[labelled["tile_id"], "class_index"].to_numpy()
    assert (merged == labelled["quality"].to_numpy()).mean() > 0.8


@pytest.mark.parametrize(
    "bands",
    [
        BandConfig(bands=[1, 2, 3, 4], scaling="percentile"),
        BandConfig(bands=[4, 2, 1], scaling="fixed", value_range=[[0, 4095], [500, 3000], [0, 3500]]),
        BandConfig(bands=[1, 2, 3, 4], scaling="standardize", stats=[[1500, 200]] * 3 + [[2500, 1300]]),
    ],
)
@pytest.mark.parametrize("size, stride, img", [(32, 32, 32), (32, 24, 32), (40, 40, 32)])
def test_prediction_reads_a_16_bit_4_band_scene_exactly_as_training(
    tmp_path, rng, monkeypatch, bands, size, stride, img
):
    """Strip reads (no resampling) and per-window reads (resampled) equal the training images bit for bit."""
    import tlgeo.predict.streaming as predict_module

    data = rng.integers(1, 4096, size=(4, 100, 130)).astype("uint16")
    data[:, 10:30, 40:75] = 0
    scene = write_geotiff(tmp_path / "s16.tif", data, nodata=0)
    monkeypatch.setattr(predict_module, "STRIP_PX", 64)
    index = tile_index(scene, size=size, stride=stride)
    windows = [tuple(w) for w in index["window"]]
    expected = load_images(index, bands, img, use_cache=False)
    assert expected.dtype == np.float32 and expected.shape[-1] == len(bands.bands)
    got = np.stack(
        [predict_module._as_stored(im, bands) for im, _ in predict_module._window_images(scene, windows, bands, img)]
    )
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def test_prediction_refuses_other_band_counts_and_dtypes(multiband_run, tmp_path, rng):
    from tlgeo.predict import load_predictor, predict_scene

    _, run, _, img, _ = multiband_run
    predictor = load_predictor(run)
    three = write_geotiff(tmp_path / "three.tif", img[:3, :64, :64], nodata=0)
    six = write_geotiff(tmp_path / "six.tif", np.concatenate([img[:, :64, :64], img[:2, :64, :64]]), nodata=0)
    floats = write_geotiff(tmp_path / "float.tif", img[:, :64, :64].astype("float32"), nodata=0)
    for path, has, wants in [(three, "3 bands", "4-band"), (six, "6 bands", "4-band"), (floats, "float32", "uint16")]:
        with pytest.raises(CompatibilityError) as err:
            predict_scene(predictor, path)
        msg = str(err.value)
        assert path.name in msg and has in msg and wants in msg and run.run_id in msg and "\n" not in msg
    out = subprocess.run(
        [sys.executable, "-m", "tlgeo", "predict", "--run", str(run.path), "--out", str(tmp_path / "p.geojson"), three],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "three.tif has 3 bands" in out.stderr and "4-band" in out.stderr
    assert not (tmp_path / "p.geojson").exists()


def test_runs_saved_before_n_band_input_still_load_and_predict(tmp_path, rng):
    """A config.json without the new fields (names, stats, dtype, source_bands, first_conv, input) → defaults."""
    from tests.conftest import make_task_data
    from tlgeo.predict import load_predictor, predict_scene
    from tlgeo.runs import save_run
    from tlgeo.train import train

    task = make_task_data(tmp_path, n=8)
    run = save_run(train(task, FAST), task.settings, tmp_path / "runs")
    scene = task.tiles["path"].iloc[0]
    before = predict_scene(load_predictor(run), scene).predictions
    cfg_path = run.path / "config.json"
    config = json.loads(cfg_path.read_text())
    assert config["tiles"]["bands"]["dtype"] == "uint8" and config["input"]["channels"] == 3
    for key in ("names", "stats", "dtype", "source_bands"):
        config["tiles"]["bands"].pop(key)
    config["train"].pop("first_conv")
    config.pop("input")
    cfg_path.write_text(json.dumps(config))
    predictor = load_predictor(run.path)
    assert predictor.bands == BandConfig()
    after = predict_scene(predictor, scene).predictions
    np.testing.assert_array_equal(after["prob_good"].to_numpy(), before["prob_good"].to_numpy())
    # an old run that read one band as grey RGB (bands = [1] then meant R = G = B = band 1)
    config["tiles"]["bands"]["bands"] = [2]
    cfg_path.write_text(json.dumps(config))
    predictor = load_predictor(run.path)
    assert predictor.bands.bands == (2, 2, 2)
    assert len(predict_scene(predictor, scene).predictions) == len(before)


def test_single_band_and_six_band_training_build_matching_models(tmp_path):
    """Band counts 1 and 6 train end to end (features_linear on tiny_cnn) with C-channel models."""
    from tlgeo.train import train

    task, _, _ = _multiband_task(tmp_path, n=6, bands=BandConfig(bands=[4], scaling="percentile"))
    result = train(task, replace(FAST, first_conv="cyclic"))
    assert result.model.input_shape[-1] == 1 and result.bands.dtype == "uint16"
    six = BandConfig(bands=[1, 2, 3, 4, 4, 4], names=NAMES6, scaling="fixed", value_range=[0, 4095])
    task6, _, _ = _multiband_task(tmp_path / "six", n=6, bands=six)
    result6 = train(task6, FAST)
    assert result6.model.input_shape[-1] == 6 and result6.config.first_conv == "cyclic"  # auto, resolved and saved


def test_cli_train_refuses_scenes_whose_band_count_changes(tmp_path, rng):
    """A villages task over a 4-band and a 3-band 16-bit scene: one line naming both files, exit 2, no run."""
    from pyproj import Transformer

    (tmp_path / "imagery").mkdir()
    origins = {"a.tif": (257000.0, 4), "b.tif": (257200.0, 3)}
    rows = []
    to_lonlat = Transformer.from_crs("EPSG:32737", "EPSG:4326", always_xy=True)
    from rasterio.transform import from_origin

    for name, (x0, count) in origins.items():
        data = rng.integers(1, 4000, size=(count, 128, 128)).astype("uint16")
        write_geotiff(tmp_path / "imagery" / name, data, transform=from_origin(x0, 9858000.0, 1.0, 1.0))
        for r in range(4):
            for c in range(4):
                lon, lat = to_lonlat.transform(x0 + 16 + 32 * c, 9858000.0 - 16 - 32 * r)
                rows.append(f"{name[0]}{r}{c},{lat:.7f},{lon:.7f},{(r + c) % 3}")
    (tmp_path / "villages.csv").write_text("village_id,lat,lon,ASSET\n" + "\n".join(rows) + "\n")
    (tmp_path / "tlgeo.toml").write_text(
        'task = "villages"\n[tiles]\nsize = 32\n[tiles.bands]\nbands = [1, 2, 3]\nscaling = "percentile"\n'
        '[villages]\nindicators = ["ASSET"]\n'
    )
    runs = tmp_path / "runs"
    args = ["--data", str(tmp_path), "--backbone", "tiny_cnn", "--img-size", "32", "--strategy", "features_linear"]
    out = subprocess.run(
        [sys.executable, "-m", "tlgeo", "train", *args, "--runs", str(runs), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "b.tif has 3 band(s)" in last and "a.tif has 4" in last
    assert "Traceback" not in out.stderr
    assert not runs.exists() or not any(runs.iterdir())
