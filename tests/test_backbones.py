"""Backbone registry: names, input checks, preprocessing layer, stages, truncation, local weights files."""

from __future__ import annotations

import time

import h5py
import keras
import numpy as np
import pytest

from tlgeo.backbones import (
    backbone_info,
    backbone_table,
    count_params,
    get_backbone,
    list_backbones,
    stage_index_of_layers,
    truncate_backbone,
)
from tlgeo.backbones.layers import ChannelAffine
from tlgeo.errors import ConfigError, WeightsError

ALL = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "efficientnet_b0", "mobilenet_v2")
ALL += ("resnet50", "vgg16", "tiny_cnn")
SHAPE = (64, 80, 3)  # small and not square: every backbone must cope


def test_list_backbones_offline_first():
    names = list_backbones()
    assert set(ALL) <= set(names)
    assert names[:3] == ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
    assert names[-1] == "tiny_cnn"
    assert "tiny_cnn" not in list_backbones(include_test=False)


def test_unknown_backbone_lists_names():
    with pytest.raises(ConfigError) as err:
        get_backbone("efficientnet_lite9")
    assert "efficientnet_lite9" in str(err.value)
    for name in ("efficientnet_lite0", "mobilenet_v2", "resnet50", "tiny_cnn"):
        assert name in str(err.value)


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 0), (16, 64, 3), (16, 64, 4)])  # any C >= 1 is fine
def test_bad_input_shape(shape):
    with pytest.raises(ConfigError, match="input_shape"):
        get_backbone("tiny_cnn", weights=None, input_shape=shape)


def test_registry_metadata():
    sizes = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260, "resnet50": 224}
    for name, size in sizes.items():
        assert backbone_info(name).default_size == size
    for name in ALL:
        info = backbone_info(name)
        assert len(info.stages) == len(info.stage_outputs) == len(set(info.stage_outputs))
        assert info.pretrained == (name != "tiny_cnn")
        assert info.preprocessing and info.description
    assert backbone_info("efficientnet_lite0").family == "efficientnet_lite"
    assert backbone_info("vgg16").family == "keras_applications"
    assert backbone_info("efficientnet_lite2").weights_offline()


@pytest.mark.parametrize("name", ALL)
def test_backbone_structure(name):
    """Preprocess first, one flat functional model, 4-D features, stages that resolve and truncate."""
    info = backbone_info(name)
    model = get_backbone(name, weights=None, input_shape=SHAPE)
    assert model.name == name
    assert model.input_shape == (None, *SHAPE)
    assert isinstance(model.layers[1], ChannelAffine) and model.layers[1].name == "preprocess"
    assert not any(isinstance(layer, keras.Model) for layer in model.layers), "application must be built inline"
    assert len(model.output.shape) == 4 and model.output.shape[-1] == info.feature_dim
    assert model.layers[-1].name == info.stage_outputs[-1]

    mapping = stage_index_of_layers(model, info)
    assert set(mapping) == {layer.name for layer in model.layers}
    order = [mapping[layer.name] for layer in model.layers]
    assert order == sorted(order) and order[0] == 0 and order[-1] == len(info.stages) - 1
    assert len(set(order)) == len(info.stages)
    for i, layer_name in enumerate(info.stage_outputs):
        assert mapping[layer_name] == i

    for stage in (info.stages[0], info.stages[len(info.stages) // 2], info.stages[-1]):
        part = truncate_backbone(model, info, stage)
        assert part.output.shape == model.get_layer(info.stage_outputs[info.stages.index(stage)]).output.shape
    x = np.random.default_rng(0).uniform(0, 255, size=(2, *SHAPE)).astype("float32")
    assert np.isfinite(model.predict(x, verbose=0)).all()


def test_truncate_unknown_stage():
    info = backbone_info("tiny_cnn")
    model = get_backbone("tiny_cnn", weights=None)
    with pytest.raises(ConfigError, match="stage9"):
        truncate_backbone(model, info, "stage9")


@pytest.mark.parametrize(
    ("name", "pixel", "expected"),
    [
        ("efficientnet_lite0", [127.0, 255.0, 0.0], [0.0, 1.0, -127 / 128]),
        ("mobilenet_v2", [127.5, 255.0, 0.0], [0.0, 1.0, -1.0]),
        ("resnet50", [10.0, 20.0, 30.0], [30 - 103.939, 20 - 116.779, 10 - 123.68]),
        ("vgg16", [10.0, 20.0, 30.0], [30 - 103.939, 20 - 116.779, 10 - 123.68]),
        ("efficientnet_b0", [10.0, 20.0, 30.0], [10.0, 20.0, 30.0]),
    ],
)
def test_preprocessing_values(name, pixel, expected):
    model = get_backbone(name, weights=None, input_shape=(32, 32, 3))
    layer = model.get_layer("preprocess")
    out = keras.ops.convert_to_numpy(layer(np.full((1, 2, 2, 3), pixel, dtype="float32")))
    np.testing.assert_allclose(out[0, 0, 0], expected, rtol=1e-5, atol=1e-4)


def test_lite_imagenet_weights_any_size_and_cached_file():
    """ImageNet weights fit any input size; the converted cache file and the .pth are valid weights paths."""
    from tlgeo.backbones.efficientnet_lite import cached_weights_path, checkpoint_path

    a = get_backbone("efficientnet_lite0", weights="imagenet", input_shape=(96, 96, 3))
    b = get_backbone("efficientnet_lite0", weights="imagenet", input_shape=(128, 160, 3))
    for layer in ("stem_conv", "stage4_block2_dwconv", "head_bn"):
        for wa, wb in zip(a.get_layer(layer).get_weights(), b.get_layer(layer).get_weights(), strict=True):
            np.testing.assert_array_equal(wa, wb)
    pth = checkpoint_path("efficientnet_lite0")
    cached = cached_weights_path("efficientnet_lite0", pth)
    assert cached.is_file()
    for weights in (cached, pth):
        c = get_backbone("efficientnet_lite0", weights=weights, input_shape=(96, 96, 3))
        np.testing.assert_array_equal(
            c.get_layer("head_conv").get_weights()[0], a.get_layer("head_conv").get_weights()[0]
        )


def test_lite_keras_weights_roundtrip_and_wrong_size(tmp_path):
    model = get_backbone("efficientnet_lite0", weights=None, input_shape=(64, 64, 3))
    path = tmp_path / "mine.weights.h5"
    model.save_weights(path)
    again = get_backbone("efficientnet_lite0", weights=path, input_shape=(64, 64, 3))
    np.testing.assert_array_equal(
        again.get_layer("stem_conv").get_weights()[0], model.get_layer("stem_conv").get_weights()[0]
    )
    with pytest.raises(WeightsError, match=r"mine\.weights\.h5"):
        get_backbone("efficientnet_lite2", weights=path, input_shape=(64, 64, 3))
    with pytest.raises(WeightsError, match="does not exist"):
        get_backbone("efficientnet_lite0", weights=tmp_path / "nothing.weights.h5")


def test_keras_app_missing_weights_names_offline_backbones(tmp_path, monkeypatch):
    """Empty Keras cache and no network: a one-sentence WeightsError naming the offline backbones, fast."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("TLGEO_OFFLINE", raising=False)
    assert not backbone_info("mobilenet_v2").weights_offline()
    start = time.perf_counter()
    with pytest.raises(WeightsError) as err:
        get_backbone("mobilenet_v2", weights="imagenet", input_shape=(96, 96, 3))
    assert time.perf_counter() - start < 30
    message = str(err.value)
    assert "efficientnet_lite0" in message and "efficientnet_lite1" in message and "efficientnet_lite2" in message
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5" in message
    assert message.count(". ") == 0, "one sentence"
    monkeypatch.setenv("TLGEO_OFFLINE", "1")
    with pytest.raises(WeightsError, match="TLGEO_OFFLINE"):
        get_backbone("resnet50")


def test_keras_app_weights_found_in_keras_cache(tmp_path, monkeypatch):
    """A weights file in $KERAS_HOME/models is used without network (here: written by Keras' own .h5 writer)."""
    from keras.src.legacy.saving import legacy_h5_format

    from tlgeo.backbones.keras_apps import APPS

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("TLGEO_OFFLINE", "1")
    reference = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(96, 96, 3))
    (tmp_path / "models").mkdir()
    with h5py.File(tmp_path / "models" / APPS["mobilenet_v2"].notop_file, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, reference)
    assert backbone_info("mobilenet_v2").weights_offline()
    model = get_backbone("mobilenet_v2", weights="imagenet", input_shape=(64, 64, 3))
    np.testing.assert_array_equal(
        model.get_layer("block_5_expand").get_weights()[0], reference.get_layer("block_5_expand").get_weights()[0]
    )


def test_efficientnet_b0_official_file_matches_keras_imagenet_graph(tmp_path):
    """Keras adds a 1/sqrt(std) rescaling only for weights="imagenet"; tlgeo folds it in for weights files."""
    from keras.src.legacy.saving import legacy_h5_format

    reference = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(64, 64, 3))
    norm = next(layer for layer in reference.layers if isinstance(layer, keras.layers.Normalization))
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    norm.adapt_mean.assign(mean.reshape(norm.adapt_mean.shape))
    norm.adapt_variance.assign((std**2).reshape(norm.adapt_variance.shape))
    path = tmp_path / "efficientnetb0_notop.h5"
    with h5py.File(path, "w") as fh:
        legacy_h5_format.save_weights_to_hdf5_group(fh, reference)
    model = get_backbone("efficientnet_b0", weights=path, input_shape=(64, 64, 3))
    ours = next(layer for layer in model.layers if isinstance(layer, keras.layers.Normalization))
    x = np.random.default_rng(1).uniform(0, 255, size=(1, 64, 64, 3)).astype("float32")
    got = keras.Model(model.input, ours.output).predict(x, verbose=0)
    np.testing.assert_allclose(got, (x / 255 - mean) / std / np.sqrt(std), rtol=1e-4, atol=1e-4)
    # a .weights.h5 saved from a tlgeo model already holds the folded values: loaded as they are
    model.save_weights(tmp_path / "b0.weights.h5")
    again = get_backbone("efficientnet_b0", weights=tmp_path / "b0.weights.h5", input_shape=(64, 64, 3))
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
    with pytest.raises(WeightsError, match=r"b0\.weights\.h5"):
        get_backbone("mobilenet_v2", weights=tmp_path / "b0.weights.h5", input_shape=(64, 64, 3))


def test_backbone_table_and_param_cache():
    rows = {row["name"]: row for row in backbone_table()}
    assert set(ALL) <= set(rows)
    assert rows["efficientnet_lite0"]["imagenet_offline"] == "yes"
    assert rows["tiny_cnn"]["imagenet_offline"] == "n/a (test)"
    assert rows["efficientnet_lite1"]["input_size"] == 240
    assert rows["resnet50"]["features"] == 2048
    # headless Lite0 = 4.65 M with its 1000-class head minus 1.28 M of classifier
    assert count_params("efficientnet_lite0") == int(get_backbone("efficientnet_lite0", weights=None).count_params())
    assert 3.3e6 < count_params("efficientnet_lite0") < 3.5e6
    assert rows["efficientnet_lite0"]["params"] == f"{count_params('efficientnet_lite0') / 1e6:.2f} M"


def test_cli_backbones_table(capsys):
    from tlgeo.cli import main

    assert main(["backbones"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["name", "imagenet_offline", "input_size", "params", "features"]
    rows = {line.split()[0]: line.split() for line in out[2:]}
    assert rows["efficientnet_lite0"][1:3] == ["yes", "224"]
    assert rows["efficientnet_lite2"][1:3] == ["yes", "260"]
    assert rows["vgg16"][2] == "224"
