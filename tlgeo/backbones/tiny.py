"""``tiny_cnn``: a small random-initialised CNN with named stages, for fast tests of every code path."""

from __future__ import annotations

import keras

from tlgeo.backbones.layers import preprocess_layer

STAGES = ("stem", "stage1", "stage2", "stage3")
WIDTHS = (8, 16, 32, 64)


def build_tiny_cnn(
    input_shape: tuple[int, int, int], weights: str | None, name: str = "tiny_cnn", *, mix=None
) -> keras.Model:
    """Four conv–BN–ReLU stages (stride 2 each), 64 features.

    ``tiny_cnn`` has no ImageNet weights: ``weights="imagenet"`` gives a fixed-seed initialisation (so strategies that
    expect "pretrained" layers can be exercised in tests), ``weights=None`` a fresh random one. ``mix``: see
    :func:`tlgeo.backbones.layers.preprocess_layer` (C-channel input).
    """
    seed = 1234 if weights == "imagenet" else None
    inputs = keras.Input(shape=input_shape, name="image")
    x = preprocess_layer(1 / 127.5, -1.0, mix=mix)(inputs)
    for i, (stage, width) in enumerate(zip(STAGES, WIDTHS, strict=True)):
        init = keras.initializers.HeNormal(seed=None if seed is None else seed + i)
        x = keras.layers.Conv2D(
            width, 3, strides=2, padding="same", use_bias=False, kernel_initializer=init, name=f"{stage}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"{stage}_bn")(x)
        x = keras.layers.ReLU(name=f"{stage}_out")(x)
    return keras.Model(inputs, x, name=name)
