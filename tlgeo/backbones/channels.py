"""Backbones for imagery with C ≠ 3 channels: the first convolution's ImageNet RGB kernel adapted to C channels.

An ImageNet network's first convolution has a kernel ``W`` of shape ``(kh, kw, 3, out)`` over R, G, B. For C input
channels tlgeo builds the same network with C input channels and sets the new kernel to ``W'[:, :, c] = Σ_j M[c, j] ·
W[:, :, j]`` with a mixing matrix ``M`` (C × 3) chosen by a rule:

- ``cyclic`` (timm's ``adapt_input_conv``): channel c takes RGB kernel ``c mod 3``, scaled by ``3 / C``.
- ``rgb_mean`` (Raster Vision, arcgis.learn): channels named red, green, blue take their own RGB kernel, every other
  channel the mean of the three; all scaled by ``3 / C``. Needs band names (``[tiles.bands] names``).

The ``3 / C`` scale keeps the first activations' magnitude: on an image where every band carries the same value the
adapted convolution gives the RGB network's response to the grey image of that value (exactly for ``rgb_mean`` with
red, green and blue named, and for ``cyclic`` when C is a multiple of 3; within a factor of 2 per colour otherwise).
The preprocessing layer works per channel: channel c gets the ImageNet normalisation of the RGB channels it draws
from (``M`` with rows normalised to sum 1; mean values for channels that mix all three). Other per-channel vectors
before the first convolution (the ``Normalization`` inside Keras' EfficientNet) are mixed the same way.

``auto`` is :data:`DEFAULT_RULE`, ``cyclic``: on the 6-band land-cover sample (478 chips, 7 classes, 5 spatial folds,
EfficientNet-Lite0 frozen features + logistic regression; ``bench/bench_bands.py``) it reached a balanced accuracy
of 0.94 ± 0.06 against 0.85 ± 0.06 for ``rgb_mean`` and 0.76 ± 0.03 for the RGB bands alone; fine-tuning the whole
network (``fine_tune_all``, 6 epochs): 0.98 ± 0.02, 0.88 ± 0.05 and 0.78 ± 0.05. (``rgb_mean`` feeds
every non-RGB band through the same luminance-like mean kernel, so NIR and SWIR differences blur together;
``cyclic`` gives neighbouring bands different colour kernels.) With C = 3 nothing is adapted: the model and its
outputs are exactly those of the RGB backbone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tlgeo.errors import ConfigError

RULES = ("cyclic", "rgb_mean")
#: What ``first_conv="auto"`` means: the better rule on the 6-band benchmark (``bench/bench_bands.py``).
DEFAULT_RULE = "cyclic"
_RGB = ("red", "green", "blue")


def _roles(names: Sequence[str] | None) -> list[str | None]:
    return [n.strip().lower() if n.strip().lower() in _RGB else None for n in names] if names else []


def resolve_rule(rule: str, channels: int, names: Sequence[str] | None = None) -> str:
    """The rule actually used for ``rule`` (``auto`` resolved).

    Raises:
        ConfigError: Unknown rule, or ``rgb_mean`` without any band named red, green or blue, or names that do not
            match the channel count.
    """
    if rule not in (*RULES, "auto"):
        raise ConfigError(f"Unknown first_conv rule {rule!r}", hint=f"Use one of: auto, {', '.join(RULES)}.")
    if names is not None and len(names) != channels:
        raise ConfigError(f"{len(names)} band names for {channels} channels: {list(names)!r}")
    has_rgb = any(_roles(names))
    if rule == "auto":
        return DEFAULT_RULE if DEFAULT_RULE != "rgb_mean" or has_rgb else "cyclic"
    if rule == "rgb_mean" and not has_rgb:
        raise ConfigError(
            f"first_conv='rgb_mean' needs bands named red, green or blue, received names={list(names or [])!r}",
            hint='Set names in [tiles.bands] (e.g. names = ["blue", "green", "red", "nir"]) or use first_conv="cyclic".',
        )
    return rule


def channel_mix(rule: str, channels: int, names: Sequence[str] | None = None) -> np.ndarray:
    """The mixing matrix ``M`` (C × 3, float64) of the module docstring, ``3 / C`` scale included.

    Args:
        rule: ``"cyclic"``, ``"rgb_mean"`` or ``"auto"``.
        channels: Input channels C (≥ 1).
        names: Band names, one per channel (needed by ``rgb_mean``).
    """
    if channels < 1:
        raise ConfigError(f"channels must be at least 1, received {channels}")
    rule = resolve_rule(rule, channels, names)
    mix = np.zeros((channels, 3), dtype="float64")
    if rule == "cyclic":
        mix[np.arange(channels), np.arange(channels) % 3] = 1.0
    else:
        for c, role in enumerate(_roles(names)):
            if role is None:
                mix[c] = 1.0 / 3.0
            else:
                mix[c, _RGB.index(role)] = 1.0
    return mix * (3.0 / channels)


def source_weights(mix: np.ndarray) -> np.ndarray:
    """``mix`` with rows normalised to sum 1: how much each RGB channel's preprocessing each channel takes."""
    return mix / mix.sum(axis=1, keepdims=True)


def adapt_kernel(kernel: np.ndarray, mix: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """The first convolution's kernel ``(kh, kw, 3, out)`` adapted to ``(kh, kw, C, out)``.

    Args:
        kernel: The pretrained RGB kernel.
        mix: :func:`channel_mix` (C × 3, RGB order).
        bgr: The pretrained network sees BGR (Caffe-style models): the kernel's input axis is B, G, R.
    """
    rgb = kernel[:, :, ::-1, :] if bgr else kernel
    return np.einsum("hwjo,cj->hwco", rgb.astype("float64"), mix).astype(kernel.dtype)


def adapt_vector(values: np.ndarray, mix: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """A per-channel vector of length 3 (e.g. a normalisation mean) mixed to length C by :func:`source_weights`."""
    rgb = values[::-1] if bgr else values
    return (source_weights(mix) @ np.asarray(rgb, dtype="float64")).astype(values.dtype)


def preprocess_values(
    scale: Sequence[float] | float, offset: Sequence[float] | float, mix: np.ndarray, *, reverse_channels: bool = False
) -> tuple[list[float], list[float]]:
    """Per-channel ``scale`` and ``offset`` of the C-channel preprocessing layer.

    ``scale``/``offset`` are the RGB network's (in the order its :class:`~tlgeo.backbones.layers.ChannelAffine` applies
    them: BGR when ``reverse_channels``); the C-channel layer never reverses channels, the kernel is adapted instead.
    """
    s = np.broadcast_to(np.asarray(scale, dtype="float64"), (3,))
    o = np.broadcast_to(np.asarray(offset, dtype="float64"), (3,))
    if reverse_channels:
        s, o = s[::-1], o[::-1]
    w = source_weights(mix)
    return [float(v) for v in w @ s], [float(v) for v in w @ o]


def transfer_weights(rgb_model, model, mix: np.ndarray, *, bgr: bool = False) -> list[str]:
    """Copy every layer's weights of ``rgb_model`` into ``model`` (same architecture, C input channels).

    Layers are matched in order. Weights of equal shape are copied unchanged; a kernel whose input-channel axis is
    3 here and C there is adapted (:func:`adapt_kernel`); a length-3 per-channel vector becomes length C
    (:func:`adapt_vector`).

    Returns:
        Names of the layers that were adapted (the first convolution, and any normalisation before it).

    Raises:
        ConfigError: The two models differ in a way this cannot bridge.
    """
    if len(rgb_model.layers) != len(model.layers):
        raise ConfigError(f"{model.name}: {len(model.layers)} layers with C channels, {len(rgb_model.layers)} with RGB")
    channels = mix.shape[0]
    adapted = []
    for src, dst in zip(rgb_model.layers, model.layers, strict=True):
        old, new = src.get_weights(), dst.get_weights()
        if not old:
            continue
        if len(old) != len(new) or type(src) is not type(dst):
            raise ConfigError(f"{model.name}: layer {dst.name!r} does not match {src.name!r} of the RGB model")
        out, changed = [], False
        for w_old, w_new in zip(old, new, strict=True):
            if w_old.shape == w_new.shape:
                out.append(w_old)
            elif w_old.ndim == 4 and w_old.shape[2] == 3 and w_new.shape[2] == channels:
                out.append(adapt_kernel(w_old, mix, bgr=bgr))
                changed = True
            elif w_old.shape == (3,) and w_new.shape == (channels,):
                out.append(adapt_vector(w_old, mix, bgr=bgr))
                changed = True
            else:
                raise ConfigError(
                    f"{model.name}: cannot adapt weights of layer {dst.name!r} from {w_old.shape} to {w_new.shape}"
                )
        dst.set_weights(out)
        if hasattr(dst, "finalize_state") and hasattr(dst, "adapt_mean"):
            dst.finalize_state()  # Keras Normalization: recompute mean/variance from the adapted state
        if changed:
            adapted.append(dst.name)
    return adapted
