"""Grad-CAM (tlgeo.explain): a model trained on chips whose class is set only by a patch (bright or dark) lying in
one quadrant looks at that quadrant; the overlay shows N-band chips on their RGB composite."""

from __future__ import annotations

import numpy as np
import pytest

CLASSES = ("bright", "dark")
SIZE = 64


def quadrant_chips(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Textured noise chips with one 12 × 12 patch anywhere inside a random quadrant; the class is the patch's
    brightness (bright or dark), so only the patch tells the classes apart. Returns chips, classes, quadrants."""
    rng = np.random.default_rng(seed)
    x = rng.normal(120, 30, size=(n, SIZE, SIZE, 3)).clip(0, 255)
    y = rng.integers(0, 2, size=n)
    quadrant = rng.integers(0, 4, size=n)
    half = SIZE // 2
    for i, (cls, q) in enumerate(zip(y, quadrant, strict=True)):
        r0 = (q // 2) * half + rng.integers(2, half - 14)
        c0 = (q % 2) * half + rng.integers(2, half - 14)
        x[i, r0 : r0 + 12, c0 : c0 + 12] = rng.uniform(225, 255, size=3) if cls == 0 else rng.uniform(0, 20, size=3)
    return x.astype("float32"), y, quadrant


def heat_quadrant(heat: np.ndarray) -> np.ndarray:
    half = heat.shape[1] // 2
    rows, cols = np.unravel_index(heat.reshape(len(heat), -1).argmax(axis=1), heat.shape[1:])
    return (rows >= half) * 2 + (cols >= half)


@pytest.fixture(scope="module")
def quadrant_model():
    import keras

    from tlgeo.transfer import build_model

    keras.utils.set_random_seed(3)
    tm = build_model("tiny_cnn", "scratch", {"patch": list(CLASSES)}, img_size=SIZE, weights=None, dropout=0.0)
    x, y, _ = quadrant_chips(400, seed=1)
    tm.model.compile(optimizer=keras.optimizers.Adam(3e-3), loss={"patch": "sparse_categorical_crossentropy"})
    tm.model.fit(x, {"patch": y}, epochs=8, batch_size=32, verbose=0)
    return tm.model


def test_heat_map_peaks_in_the_patch_quadrant(quadrant_model):
    from tlgeo.explain import grad_cam

    x, y, quadrant = quadrant_chips(120, seed=7)  # chips the model never saw
    heat, probs = grad_cam(quadrant_model, x)
    assert heat.shape == (120, SIZE, SIZE) and probs.shape == (120, 2)
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0
    accuracy = float((probs.argmax(axis=1) == y).mean())
    assert accuracy >= 0.9, f"the model did not learn the task (accuracy {accuracy:.2f})"
    hit = float((heat_quadrant(heat) == quadrant).mean())
    assert hit >= 0.9, f"heat-map maximum in the patch's quadrant for only {hit:.0%} of tiles"
    # the heat map of the other class does not point at the patch as often
    heat_other, _ = grad_cam(quadrant_model, x, class_index=1 - probs.argmax(axis=1))
    assert float((heat_quadrant(heat_other) == quadrant).mean()) < hit


def test_overlay_shows_rgb_composite_of_n_band_chips():
    from tlgeo.config import BandConfig
    from tlgeo.explain import overlay

    chip = np.zeros((8, 8, 5), dtype="float32")
    chip[..., 3] = 200  # the band named red
    heat = np.zeros((8, 8), dtype="float32")
    out = overlay(chip, heat, BandConfig(bands=(1, 2, 3, 4, 5), names=("a", "blue", "green", "red", "nir")))
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert (out[..., 0] == 200).all() and (out[..., 1:] == 0).all()  # no heat → the composite unchanged
    hot = overlay(chip, np.ones((8, 8), dtype="float32"))
    assert (hot != out).any()
