"""Keras layers that travel inside saved models (registered, so ``keras.models.load_model(safe_mode=True)`` works)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tlgeo")
class ChannelAffine(keras.layers.Layer):
    """Per-channel ``y = x * scale + offset``, optionally reversing channel order first (RGB → BGR).

    Every backbone takes pixels in 0–255 (RGB, or C channels) and starts with this layer, so a saved model carries its own
    ImageNet preprocessing and prediction cannot preprocess differently from training.

    Args:
        scale: One value per channel (or a single value for all).
        offset: One value per channel (or a single value for all).
        reverse_channels: Reverse the channel axis before the affine map (Caffe-style BGR models).
    """

    def __init__(self, scale, offset, reverse_channels: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.scale = [float(v) for v in (scale if isinstance(scale, (list, tuple)) else [scale] * 3)]
        self.offset = [float(v) for v in (offset if isinstance(offset, (list, tuple)) else [offset] * 3)]
        self.reverse_channels = bool(reverse_channels)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.reverse_channels:
            x = ops.flip(x, axis=-1)
        scale = ops.convert_to_tensor(self.scale, dtype=self.compute_dtype)
        offset = ops.convert_to_tensor(self.offset, dtype=self.compute_dtype)
        return x * scale + offset

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "offset": self.offset,
            "reverse_channels": self.reverse_channels,
        }


def preprocess_layer(scale, offset, *, reverse_channels: bool = False, mix=None, name: str = "preprocess"):
    """The backbone's ``preprocess`` layer: ImageNet ``scale``/``offset`` for RGB, or per channel for C channels.

    Args:
        scale: RGB scale (one value or three, in the order applied, i.e. BGR when ``reverse_channels``).
        offset: RGB offset (same convention).
        reverse_channels: RGB → BGR first (Caffe-style models).
        mix: ``None`` for RGB input (the layer exactly as before), or the C × 3 matrix of
            :func:`tlgeo.backbones.channels.channel_mix`: channel c then gets the preprocessing of the RGB channels
            it draws from, and channels are never reversed (the first convolution is adapted instead).
    """
    if mix is None:
        return ChannelAffine(scale=scale, offset=offset, reverse_channels=reverse_channels, name=name)
    from tlgeo.backbones.channels import preprocess_values

    scales, offsets = preprocess_values(scale, offset, mix, reverse_channels=reverse_channels)
    return ChannelAffine(scale=scales, offset=offsets, reverse_channels=False, name=name)
