"""What the model looks at: Grad-CAM heat maps from the last convolutional stage of any registered backbone.

Every tlgeo model is ``image → backbone (a nested Keras model ending in its last stage's feature map) → pooling →
head``. Grad-CAM (Selvaraju et al. 2017) weights each channel of that feature map by the mean gradient of the
chosen class's score over the map, sums, keeps the positive part and resizes it to the chip. The score is the
log-probability of the class (the softmax outputs hold no separate logits; log-softmax differs from the logit by a
term shared by all classes of a row, whose gradient Grad-CAM's channel weights mostly cancel).

A regression output (one value per chip: task ``values``, continuous village fractions) is explained through the
gradient of the predicted value itself: the map shows where the image raises the prediction. ``chip_stats`` runs
(gradient boosting on chip statistics) have no feature map: explaining one is a one-line error.

N-band chips are shown on their RGB composite (:func:`tlgeo.tiles.rgb_composite`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tlgeo.errors import RunError

if TYPE_CHECKING:
    import keras

    from tlgeo.config import BandConfig


def _parts(model: keras.Model) -> tuple[keras.Model, list]:
    """The nested backbone (4-D output) and the layers that turn its feature map into the outputs."""
    import keras

    if getattr(model, "numpy_model", False) or not isinstance(model, keras.Model):
        raise RunError(
            f"Model {getattr(model, 'name', type(model).__name__)!r} is not a network: chip_stats (gradient boosting "
            "on chip statistics) has no feature map for Grad-CAM",
            hint="Explain a run of a network strategy (features_linear, frozen_head, fine_tune_all, …).",
        )
    nets = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.Model) and len(getattr(layer, "output_shape", ()) or ()) == 4
    ]
    if not nets:
        raise RunError(
            f"Model {model.name!r} has no nested backbone with a feature map to explain",
            hint="Grad-CAM works on models trained by tlgeo (backbone → pooling → head).",
        )
    net = nets[-1]
    rest = model.layers[model.layers.index(net) + 1 :]
    return net, rest


def grad_cam(
    model: keras.Model,
    images: np.ndarray,
    *,
    target: str | None = None,
    class_index: int | Sequence[int] | None = None,
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM heat maps of a batch of chips.

    Args:
        model: A tlgeo model (``Run.load_model()``): image → backbone → ``pool`` → ``head``.
        images: (N, H, W, C) on the 0–255 scale, as the model takes them.
        target: Output to explain for multi-task models (default: the first).
        class_index: Class to explain per image (one int for all, or one per image); default: the predicted class.
            Ignored for a regression output (one value per chip), explained through the predicted value.
        batch_size: Chips per gradient pass.

    Returns:
        ``(heat, probs)``: heat maps (N, H, W) in [0, 1] (each divided by its maximum; all zero when no location
        raises the class score) and the probabilities (N, K) of the explained target ((N, 1) values for regression).
    """
    import tensorflow as tf

    net, rest = _parts(model)
    images = np.asarray(images, dtype="float32")
    n, h, w = images.shape[:3]
    heat = np.zeros((n, h, w), dtype="float32")
    all_probs = []
    for start in range(0, n, batch_size):
        x = tf.convert_to_tensor(images[start : start + batch_size])
        fmap = net(x, training=False)
        with tf.GradientTape() as tape:
            tape.watch(fmap)
            out = fmap
            for layer in rest:
                out = layer(out, training=False)
            if isinstance(out, Mapping):
                out = out[target] if target is not None else next(iter(out.values()))
            elif isinstance(out, (list, tuple)):
                out = out[0]
            probs = tf.cast(out, "float32")
            if probs.shape[-1] == 1:  # a regression output (classes are ≥ 2): the predicted value is the score
                score = probs[:, 0]
            elif class_index is None:
                idx = tf.argmax(probs, axis=1, output_type=tf.int32)
            elif np.ndim(class_index) == 0:
                idx = tf.fill([tf.shape(probs)[0]], int(class_index))
            else:
                idx = tf.constant(np.asarray(class_index)[start : start + batch_size], dtype=tf.int32)
            if probs.shape[-1] != 1:
                score = tf.math.log(tf.gather(probs, idx, axis=1, batch_dims=1) + 1e-12)
        grads = tape.gradient(score, fmap)
        weights = tf.reduce_mean(tf.cast(grads, "float32"), axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(fmap, "float32"), axis=-1))
        cam = tf.image.resize(cam[..., None], (h, w), method="bilinear")[..., 0].numpy()
        peak = cam.reshape(len(cam), -1).max(axis=1)
        heat[start : start + len(cam)] = np.where(
            peak[:, None, None] > 0, cam / np.maximum(peak, 1e-12)[:, None, None], 0
        )
        all_probs.append(probs.numpy())
    return heat, np.concatenate(all_probs) if all_probs else np.zeros((0, 0))


def _jet(v: np.ndarray) -> np.ndarray:
    """A blue → cyan → yellow → red ramp of values in [0, 1], as (…, 3) float in [0, 1]."""
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.stack([r, g, b], axis=-1)


def overlay(chip: np.ndarray, heat: np.ndarray, bands: BandConfig | None = None, *, alpha: float = 0.45) -> np.ndarray:
    """A heat map blended over a chip's RGB composite: (H, W, 3) uint8.

    Args:
        chip: (H, W, C) chip on the 0–255 scale (any band count).
        heat: (H, W) in [0, 1].
        bands: The run's bands (names choose the composite).
        alpha: Weight of the heat map (scaled by the heat itself, so cold areas show the image).
    """
    from tlgeo.config import BandConfig
    from tlgeo.tiles import rgb_composite

    rgb = rgb_composite(np.asarray(chip)[None], bands or BandConfig())[0].astype("float32") / 255.0
    a = (alpha * np.clip(heat, 0, 1))[..., None]
    out = (1 - a) * rgb + a * _jet(np.clip(heat, 0, 1))
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def explain_tiles(
    run,
    tiles: Sequence[str | Path],
    out_dir: str | Path,
    *,
    target: str | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Write one Grad-CAM PNG per tile file (``<stem>_gradcam.png``: the chip with its heat map) into ``out_dir``.

    Args:
        run: A :class:`~tlgeo.runs.Run` (or its folder).
        tiles: Tile image files (GeoTIFF, or PNG/JPEG with a world file), read with the run's bands and scaling.
        out_dir: Output folder (created; its files are checked first and never overwritten without ``overwrite``).
        target: Output to explain for multi-task runs (default: the first).
        overwrite: Replace existing PNGs.

    Raises:
        OutputExistsError: A PNG exists and ``overwrite`` is not set (nothing is written).
        RasterError, BandError, CompatibilityError: a tile cannot be read with the run's bands.
    """
    from PIL import Image

    from tlgeo._utils import atomic_path
    from tlgeo.outputs import check_output_folder, check_outputs
    from tlgeo.predict import load_predictor
    from tlgeo.tiles import raster_info, read_tile

    predictor = load_predictor(run)
    tiles = [Path(t) for t in tiles]
    out_dir = Path(out_dir)
    targets = {f"tile {i + 1}": out_dir / f"{t.stem}_gradcam.png" for i, t in enumerate(tiles)}
    check_output_folder(out_dir, flag="--out")
    checked = check_outputs(targets, overwrite=overwrite)
    images = []
    for t in tiles:
        info = raster_info(t)
        predictor.check_raster(info)
        images.append(read_tile(t, None, predictor.bands, out_size=predictor.img_size, info=info).image)
    heat, _ = grad_cam(predictor.model, np.stack(images), target=target)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for img, hm, path in zip(images, heat, checked.values(), strict=True):
        with atomic_path(path) as tmp:
            Image.fromarray(overlay(img, hm, predictor.bands)).save(tmp, format="PNG")
        written.append(path)
    return written
