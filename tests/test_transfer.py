"""Strategies build the right models; per-layer learning rates; linear heads; the advisor's four cases."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tlgeo.errors import ConfigError
from tlgeo.transfer import (
    build_model,
    check_strategy,
    fit_linear_head,
    layerwise_adam,
    outputs_by_target,
    recommend_strategy,
    unfreeze,
)

TARGETS = {"quality": ["good", "fair", "poor"]}


def _n_trainable(model) -> int:
    return sum(int(np.prod(v.shape)) for v in model.trainable_variables)


def test_frozen_head_trains_only_the_head():
    tm = build_model("tiny_cnn", "frozen_head", TARGETS, img_size=32)
    assert not tm.backbone.trainable
    assert _n_trainable(tm.model) == _n_trainable(tm.head) == 64 * 3 + 3
    out = tm.model(np.zeros((2, 32, 32, 3), "float32"))
    assert out["quality"].shape == (2, 3)
    np.testing.assert_allclose(np.asarray(out["quality"]).sum(axis=1), 1.0, rtol=1e-5)


def test_truncated_keeps_early_stages_only():
    tm = build_model("tiny_cnn", "truncated", TARGETS, img_size=32, truncate_stage="stage1")
    assert tm.backbone.output_shape[-1] == 16
    assert "stage2_conv" not in [layer.name for layer in tm.backbone.layers]
    with pytest.raises(ConfigError, match="no stage 'stage9'"):
        build_model("tiny_cnn", "truncated", TARGETS, img_size=32, truncate_stage="stage9")


def test_fine_tune_top_unfreezes_top_stages_but_not_batchnorm():
    tm = build_model("tiny_cnn", "fine_tune_top", TARGETS, img_size=32)
    slow = unfreeze(tm, "fine_tune_top", top_k_stages=2)
    names = {v.path.split("/")[-2] for v in slow}
    assert names == {"stage2_conv", "stage3_conv"}
    bn = [layer for layer in tm.backbone.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bn and not any(layer.trainable for layer in bn)
    tm_all = build_model("tiny_cnn", "fine_tune_all", TARGETS, img_size=32)
    slow_all = unfreeze(tm_all, "fine_tune_all", top_k_stages=1)
    assert {v.path.split("/")[-2] for v in slow_all} == {"stem_conv", "stage1_conv", "stage2_conv", "stage3_conv"}


def test_scratch_is_random_and_fully_trainable():
    a = build_model("tiny_cnn", "scratch", TARGETS, img_size=32, seed=0)
    b = build_model("tiny_cnn", "frozen_head", TARGETS, img_size=32, seed=0)
    assert a.backbone.trainable and not a.pretrained and b.pretrained
    wa = a.backbone.get_layer("stem_conv").get_weights()[0]
    wb = b.backbone.get_layer("stem_conv").get_weights()[0]
    assert not np.allclose(wa, wb)


def test_as_is_and_unknown_strategies_are_refused():
    with pytest.raises(ConfigError, match="nothing to train"):
        check_strategy("as_is")
    with pytest.raises(ConfigError, match="Unknown strategy 'finetune'"):
        check_strategy("finetune")


def test_layerwise_adam_scales_steps_of_pretrained_layers():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(4, name="pretrained")(inputs)
    out = keras.layers.Dense(1, name="new")(hidden)
    model = keras.Model(inputs, out)
    before = [w.copy() for w in model.get_weights()]
    slow = model.get_layer("pretrained").trainable_variables
    model.compile(optimizer=layerwise_adam(0.01, slow, 0.1), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    model.train_on_batch(x, x[:, :1])
    after = model.get_weights()
    # Adam's first step moves every weight by ~lr; the pretrained kernel moves by ~0.1 × lr
    step_slow = np.abs(after[0] - before[0]).max()
    step_fast = np.abs(after[2] - before[2]).max()
    assert step_slow == pytest.approx(0.001, rel=0.05)
    assert step_fast == pytest.approx(0.01, rel=0.05)


def test_logistic_head_reproduces_sklearn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(90, 64)).astype("float32")
    y = np.repeat([0, 1, 2], 30)
    x[:, :3] += np.eye(3)[y] * 3
    tm = build_model("tiny_cnn", "features_linear", TARGETS, img_size=32, dropout=0.0)
    est = fit_linear_head(tm, x, {"quality": y}, "logistic")["quality"]
    keras_probs = np.asarray(tm.head(x)["quality"])
    np.testing.assert_allclose(keras_probs, est.predict_proba(x), atol=1e-4)
    tm2 = build_model("tiny_cnn", "features_linear", TARGETS, img_size=32, dropout=0.0)
    svm = fit_linear_head(tm2, x, {"quality": y}, "svm")["quality"]
    probs = np.asarray(tm2.head(x)["quality"])
    assert (probs.argmax(1) == svm.predict(x)).mean() > 0.97
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)


def test_missing_labels_do_not_count_in_linear_heads():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 64)).astype("float32")
    y = np.repeat([0, 1], 30)
    x[:, 0] += y * 4
    y_missing = y.copy()
    y_missing[::5] = -1
    tm = build_model("tiny_cnn", "features_linear", {"B": ["0", "1"]}, img_size=32, dropout=0.0)
    est = fit_linear_head(tm, x, {"B": y_missing}, "logistic")["B"]
    assert list(est[-1].classes_) == [0, 1]


@pytest.mark.parametrize(
    ("n", "similarity", "expected"),
    [
        (200, 0.8, "frozen_head"),
        (200, 0.1, "truncated"),
        (5000, "similar", "fine_tune_all"),
        (5000, "different", "fine_tune_all"),
    ],
)
def test_advisor_four_cases(n, similarity, expected):
    rec = recommend_strategy({"good": n, "fair": n + 10, "poor": n + 20}, similarity)
    assert rec.strategy == expected
    assert rec.small == (n < 1000)
    assert str(n) in rec.reason and expected in rec.reason
    if expected == "fine_tune_all" and similarity == "different":
        assert "scratch" in rec.alternatives


def test_outputs_by_target_normalises_shapes():
    arr = np.ones((2, 3))
    assert outputs_by_target(arr, ["q"])["q"].shape == (2, 3)
    assert set(outputs_by_target([arr, arr[:, :2]], ["a", "b"])) == {"a", "b"}
    with pytest.raises(ConfigError):
        outputs_by_target(arr, ["a", "b"])


@pytest.mark.slow
def test_similarity_separates_photos_from_noise():
    from skimage import data, transform

    from tlgeo.transfer import SIMILARITY_THRESHOLD, measure_similarity

    def rs(img):
        return transform.resize(img[..., :3], (128, 128), preserve_range=True).astype("uint8")

    photos = np.array([rs(getattr(data, n)()) for n in ("chelsea", "coffee", "astronaut", "cat", "rocket")])
    noise = np.random.default_rng(0).integers(0, 255, (8, 128, 128, 3)).astype("uint8")
    s_photos = measure_similarity(photos)
    s_noise = measure_similarity(noise)
    assert s_photos >= SIMILARITY_THRESHOLD > s_noise
    assert recommend_strategy(200, s_photos).strategy == "frozen_head"
    assert recommend_strategy(200, s_noise).strategy == "truncated"
