"""Keras applications as tlgeo backbones: MobileNetV2, ResNet50, EfficientNetB0, VGG16.

Each is built *inline* after tlgeo's ``preprocess`` layer (``input_tensor=``), so all layers live in one functional
model and the registry's stage names resolve to real layers. ImageNet weights come from, in order:

1. a weights file the caller names (the official ``.h5`` file, or a ``.weights.h5`` saved from a tlgeo backbone);
2. the Keras cache (``$KERAS_HOME/models``, default ``~/.keras/models``) — no network needed;
3. a download by Keras, tried only after a quick reachability check of the weights host, so that an offline machine
   gets a :class:`~tlgeo.errors.WeightsError` at once (naming the offline backbones) instead of a hang.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from tlgeo.errors import ConfigError, WeightsError

#: Set to 1 to never try a download (the check still reports cached files).
OFFLINE_ENV = "TLGEO_OFFLINE"
_PROBE_TIMEOUT_S = 5.0
_DOWNLOAD_TIMEOUT_S = 60.0

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


@dataclass(frozen=True)
class KerasApp:
    """What tlgeo needs to know about one Keras application.

    Attributes:
        name: Registry name.
        constructor: Name of the ``keras.applications`` function.
        default_size: ImageNet input size.
        feature_dim: Channels of the last feature map.
        scale, offset, reverse_channels: The ``preprocess`` :class:`~tlgeo.backbones.layers.ChannelAffine`.
        preprocessing: Human-readable preprocessing.
        stages, stage_outputs: Stage names and the layers ending them.
        notop_file, top_file: Weights file names in the Keras cache (headless / with classifier).
        notop_url, top_url: Where Keras downloads them from.
        notop_hash, top_hash: Hashes Keras checks (``None``: not checked).
    """

    name: str
    constructor: str
    default_size: int
    feature_dim: int
    scale: tuple[float, ...]
    offset: tuple[float, ...]
    reverse_channels: bool
    preprocessing: str
    stages: tuple[str, ...]
    stage_outputs: tuple[str, ...]
    notop_file: str
    top_file: str
    notop_url: str
    top_url: str
    notop_hash: str | None
    top_hash: str | None
    description: str

    def weights_file(self, include_top: bool) -> str:
        return self.top_file if include_top else self.notop_file


_CAFFE_MEAN_BGR = (-103.939, -116.779, -123.68)
_MNV2 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224"
_EFF = "https://storage.googleapis.com/keras-applications/"


def _caffe_app(
    name: str,
    constructor: str,
    *,
    feature_dim: int,
    stages: tuple[str, ...],
    stage_outputs: tuple[str, ...],
    folder: str,
    hashes: tuple[str, str],
    description: str,
) -> KerasApp:
    """A Keras application with caffe preprocessing and ``<name>_weights_tf_dim_ordering_tf_kernels`` files."""
    stem = f"{name}_weights_tf_dim_ordering_tf_kernels"
    return KerasApp(
        name=name,
        constructor=constructor,
        default_size=224,
        feature_dim=feature_dim,
        scale=(1.0,) * 3,
        offset=_CAFFE_MEAN_BGR,
        reverse_channels=True,
        preprocessing="caffe: RGB→BGR, minus ImageNet mean (103.939, 116.779, 123.68)",
        stages=stages,
        stage_outputs=stage_outputs,
        notop_file=f"{stem}_notop.h5",
        top_file=f"{stem}.h5",
        notop_url=f"{_BASE}{folder}/{stem}_notop.h5",
        top_url=f"{_BASE}{folder}/{stem}.h5",
        notop_hash=hashes[0],
        top_hash=hashes[1],
        description=description,
    )


APPS: dict[str, KerasApp] = {
    "mobilenet_v2": KerasApp(
        name="mobilenet_v2",
        constructor="MobileNetV2",
        default_size=224,
        feature_dim=1280,
        scale=(1 / 127.5,) * 3,
        offset=(-1.0,) * 3,
        reverse_channels=False,
        preprocessing="x / 127.5 − 1 on RGB 0–255",
        stages=("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head"),
        stage_outputs=(
            "Conv1_relu",
            "expanded_conv_project_BN",
            "block_2_add",
            "block_5_add",
            "block_9_add",
            "block_12_add",
            "block_15_add",
            "block_16_project_BN",
            "out_relu",
        ),
        notop_file=f"{_MNV2}_no_top.h5",
        top_file=f"{_MNV2}.h5",
        notop_url=f"{_BASE}mobilenet_v2/{_MNV2}_no_top.h5",
        top_url=f"{_BASE}mobilenet_v2/{_MNV2}.h5",
        notop_hash=None,
        top_hash=None,
        description="MobileNetV2 1.0 (Keras applications); ImageNet weights via the Keras cache.",
    ),
    "resnet50": _caffe_app(
        "resnet50",
        "ResNet50",
        feature_dim=2048,
        stages=("stem", "stage1", "stage2", "stage3", "stage4"),
        stage_outputs=("pool1_pool", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
        folder="resnet",
        hashes=("4d473c1dd8becc155b73f8504c6f6626", "2cb95161c43110f7111970584f804107"),
        description="ResNet50 (Keras applications); ImageNet weights via the Keras cache.",
    ),
    "efficientnet_b0": KerasApp(
        name="efficientnet_b0",
        constructor="EfficientNetB0",
        default_size=224,
        feature_dim=1280,
        scale=(1.0,) * 3,
        offset=(0.0,) * 3,
        reverse_channels=False,
        preprocessing="identity here; the model rescales and normalises internally",
        stages=("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head"),
        stage_outputs=(
            "stem_activation",
            "block1a_project_bn",
            "block2b_add",
            "block3b_add",
            "block4c_add",
            "block5c_add",
            "block6d_add",
            "block7a_project_bn",
            "top_activation",
        ),
        notop_file="efficientnetb0_notop.h5",
        top_file="efficientnetb0.h5",
        notop_url=f"{_EFF}efficientnetb0_notop.h5",
        top_url=f"{_EFF}efficientnetb0.h5",
        notop_hash="50bc09e76180e00e4465e1a485ddc09d",
        top_hash="902e53a9f72be733fc0bcb005b3ebbac",
        description="EfficientNetB0 (Keras applications, with squeeze-excite); ImageNet weights via the Keras cache.",
    ),
    "vgg16": _caffe_app(
        "vgg16",
        "VGG16",
        feature_dim=512,
        stages=("stage1", "stage2", "stage3", "stage4", "stage5"),
        stage_outputs=("block1_pool", "block2_pool", "block3_pool", "block4_pool", "block5_pool"),
        folder="vgg16",
        hashes=("6d6bbae143d832006294945121d1f1fc", "64373286793e3c8b2b4e3219cbf3544b"),
        description="VGG16 (Keras applications), large and slow on CPU; ImageNet weights via the Keras cache.",
    ),
}

# EfficientNet's ImageNet graph divides by sqrt(stddev) after its Normalization layer, but Keras adds that Rescaling
# only when built with weights="imagenet"; with a weights file we fold it into the Normalization variance instead.
_EFFICIENTNET_STDDEV_RGB = (0.229, 0.224, 0.225)


def app(name: str) -> KerasApp:
    """The :class:`KerasApp` called ``name``."""
    if name not in APPS:
        raise ConfigError(f"Unknown Keras application {name!r}", hint=f"Choose one of: {', '.join(APPS)}.")
    return APPS[name]


def keras_models_dir() -> Path:
    """The Keras weights cache: ``$KERAS_HOME/models``, else ``~/.keras/models`` (read at call time)."""
    home = os.environ.get("KERAS_HOME")
    return Path(home).expanduser() / "models" if home else Path.home() / ".keras" / "models"


def cached_weights(name: str, include_top: bool = False) -> Path | None:
    """The official weights file of ``name`` in the Keras cache, or None."""
    path = keras_models_dir() / app(name).weights_file(include_top)
    return path if path.is_file() and path.stat().st_size > 0 else None


def weights_available(name: str, include_top: bool = False) -> bool:
    """True when ImageNet weights of ``name`` are in the Keras cache (loadable without network)."""
    return cached_weights(name, include_top) is not None


def _missing_weights_error(name: str, file: Path, reason: str) -> WeightsError:
    return WeightsError(
        f"ImageNet weights for {name} are not in the Keras cache ({file}) and cannot be downloaded ({reason}), so "
        f"use an offline backbone (efficientnet_lite0, efficientnet_lite1 or efficientnet_lite2) or pass a local "
        f"copy of {file.name} to train/compare with --weights FILE, or put it in the Keras cache ({file.parent})",
        path=file,
    )


def _host_reachable(url: str, timeout: float = _PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """Resolve and connect to the host of ``url`` within ``timeout`` seconds (in a thread, so DNS cannot hang us)."""
    host = urlparse(url).hostname or ""
    port = 443 if url.startswith("https") else 80
    result: dict[str, object] = {}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    if result.get("ok"):
        return True, ""
    return False, str(result.get("error", f"no answer from {host} within {timeout:.0f} s"))


def fetch_weights(name: str, include_top: bool = False) -> Path:
    """The official weights file of ``name``: from the Keras cache, else downloaded by Keras into it.

    Raises:
        WeightsError: Not cached, and the download is disabled (``TLGEO_OFFLINE=1``), the host is unreachable, or
            the download fails. The message names the offline backbones.
    """
    import keras

    info = app(name)
    target = keras_models_dir() / info.weights_file(include_top)
    found = cached_weights(name, include_top)
    if found is not None:
        return found
    if os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0"):
        raise _missing_weights_error(name, target, f"{OFFLINE_ENV} is set")
    url = info.top_url if include_top else info.notop_url
    ok, why = _host_reachable(url)
    if not ok:
        raise _missing_weights_error(name, target, f"no network: {why}")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        path = keras.utils.get_file(
            target.name,
            url,
            cache_dir=str(target.parent.parent),
            cache_subdir="models",
            file_hash=info.top_hash if include_top else info.notop_hash,
        )
    except Exception as exc:
        raise _missing_weights_error(name, target, f"download failed: {type(exc).__name__}: {exc}") from None
    finally:
        socket.setdefaulttimeout(previous)
    return Path(path)


def build_keras_app(
    name: str,
    input_shape: tuple[int, int, int] | None = None,
    weights: str | Path | None = "imagenet",
    *,
    include_top: bool = False,
    mix=None,
):
    """Build Keras application ``name`` after a ``preprocess`` layer, as one functional model (RGB 0–255 in).

    Args:
        name: ``mobilenet_v2``, ``resnet50``, ``efficientnet_b0`` or ``vgg16``.
        input_shape: ``(H, W, 3)``; default 224 × 224. ``include_top=True`` needs the default size.
        weights: ``"imagenet"`` (Keras cache, else a download attempt), ``None`` (random), or the path of a local
            weights file (official ``.h5``, or ``.weights.h5`` saved from a tlgeo backbone of the same kind).
        include_top: Keep the 1000-class ImageNet classifier (``predictions``, softmax).
        mix: For C-channel input (``input_shape[-1] != 3``, random weights only): the channel mix of the
            ``preprocess`` layer (:func:`tlgeo.backbones.layers.preprocess_layer`); ``get_backbone`` adapts weights.

    Raises:
        WeightsError: Weights unavailable offline (names the offline backbones) or not loadable.
        ConfigError: ``include_top=True`` with another input size.
    """
    import keras

    from tlgeo.backbones.layers import preprocess_layer

    info = app(name)
    input_shape = tuple(input_shape or (info.default_size, info.default_size, 3))
    if include_top and input_shape != (info.default_size, info.default_size, 3):
        raise ConfigError(
            f"{name} with its ImageNet classifier needs input_shape={(info.default_size, info.default_size, 3)}, "
            f"received {input_shape}",
            hint="Resize the images, or use the headless backbone.",
        )
    weights_file: Path | None = None
    if weights == "imagenet":
        weights_file = fetch_weights(name, include_top)
    elif weights is not None:
        from tlgeo.backbones.torch_legacy import existing_file

        weights_file = existing_file(weights)

    inputs = keras.Input(shape=input_shape, name="image")
    x = preprocess_layer(list(info.scale), list(info.offset), reverse_channels=info.reverse_channels, mix=mix)(inputs)
    constructor: Callable = getattr(keras.applications, info.constructor)
    model = constructor(
        include_top=include_top,
        weights=None,
        input_tensor=x,
        input_shape=input_shape,
        name=_model_name(name, include_top),
    )
    if weights_file is not None:
        load_weights_file(model, name, weights_file)
    return model


def _model_name(name: str, include_top: bool) -> str:
    return f"{name}_imagenet" if include_top else name


def load_weights_file(model, name: str, path: Path) -> None:
    """Load an official Keras ``.h5`` or a Keras 3 ``.weights.h5`` file into a model built by :func:`build_keras_app`.

    Raises:
        WeightsError: The file cannot be read or does not fit the model.
    """
    try:
        load_keras_weights(model, path)
    except Exception as exc:
        raise WeightsError(
            f"Could not load weights file {path} into {name}: {type(exc).__name__}: {exc}",
            hint=f"Pass the official Keras weights of {name} ({app(name).notop_file} for the headless backbone) or a "
            f".weights.h5 saved from a tlgeo {name} backbone; delete the file if it is damaged.",
            path=path,
        ) from None
    if name == "efficientnet_b0" and not path.name.endswith(".weights.h5"):
        _fold_efficientnet_stddev(model)


def load_keras_weights(model, path: str | Path) -> None:
    """``model.load_weights(path)``, without Keras' per-layer warnings when it fails anyway (the error says it all)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(str(path))
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _fold_efficientnet_stddev(model) -> None:
    """Make a weights-file EfficientNet equal to Keras' ``weights="imagenet"`` graph (see the note above)."""
    import keras
    import numpy as np

    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization) and getattr(layer, "adapt_variance", None) is not None:
            stddev = np.reshape(np.asarray(_EFFICIENTNET_STDDEV_RGB, dtype="float32"), layer.adapt_variance.shape)
            layer.adapt_variance.assign(np.asarray(layer.adapt_variance) * stddev)
            layer.finalize_state()
            return
