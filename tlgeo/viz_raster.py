"""Prediction GeoTIFFs (:func:`tlgeo.export.write_prediction_geotiff`) as semi-transparent map image layers.

Modes: ``"class"`` (the class colours of the maps), ``"probability"`` (of one class, light → dark) and
``"uncertainty"`` (normalised entropy of the class probabilities, 0 = certain, 1 = uniform). Cells no window
covered (nodata −1) are transparent. No Keras, no Streamlit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tlgeo.errors import ConfigError, RasterError
from tlgeo.schema import PROB, target_prefix

MODES = ("class", "probability", "uncertainty")
#: Light yellow → dark purple ramp for probabilities and uncertainty.
RAMP = np.array([[255, 255, 204], [254, 178, 76], [240, 59, 32], [189, 0, 38], [84, 39, 143]], dtype="float64")


def _hex(color: str) -> tuple[int, int, int]:
    color = color.lstrip("#")
    return tuple(int(color[i : i + 2], 16) for i in (0, 2, 4))


def ramp(values: np.ndarray) -> np.ndarray:
    """(…,) values in [0, 1] → (…, 3) uint8 along :data:`RAMP`."""
    v = np.clip(np.nan_to_num(values), 0, 1) * (len(RAMP) - 1)
    lo = np.floor(v).astype(int).clip(0, len(RAMP) - 2)
    f = (v - lo)[..., None]
    return np.rint(RAMP[lo] * (1 - f) + RAMP[lo + 1] * f).astype(np.uint8)


def prediction_layer(
    source: str | Path | bytes,
    *,
    mode: str = "class",
    target: str | None = None,
    class_name: str | None = None,
    ordered: bool = True,
    opacity: float = 0.6,
    max_px: int = 2048,
) -> dict:
    """A map image layer of a prediction GeoTIFF.

    Args:
        source: The GeoTIFF (path or bytes).
        mode: ``"class"``, ``"probability"`` or ``"uncertainty"``.
        target: Target of a multi-task run (bands ``<target>_…``); ``None`` for one target.
        class_name: The class whose probability is drawn (``mode="probability"``).
        ordered: Class colours as on the other maps (:func:`tlgeo.viz.class_colors`).
        opacity: Layer opacity.
        max_px: Longest edge of the image (decimated read).

    Raises:
        ConfigError: Unknown mode, or a class / target the GeoTIFF does not hold.
        RasterError: Not a prediction GeoTIFF of tlgeo.
    """
    import rasterio
    from rasterio.io import MemoryFile

    from tlgeo.overview import array_layer, pixel_corners_lonlat
    from tlgeo.viz import class_colors

    if mode not in MODES:
        raise ConfigError(f"Unknown raster mode {mode!r}", hint=f"Use one of: {', '.join(MODES)}.")
    prefix = target_prefix(target)
    mem = MemoryFile(source) if isinstance(source, bytes) else None
    try:
        with mem.open() if mem is not None else rasterio.open(source) as ds:
            names = list(ds.descriptions)
            index_name = f"{prefix}class_index"
            if index_name not in names:
                raise RasterError(
                    f"The GeoTIFF has no band {index_name!r} (bands: {', '.join(str(n) for n in names)})",
                    hint="Draw a prediction GeoTIFF written by tlgeo, or name its target.",
                )
            band = names.index(index_name) + 1
            tag = ds.tags(band).get("classes", "")
            classes = [part.split("=", 1)[1] for part in tag.split(",") if "=" in part]
            probs_bands = [names.index(f"{prefix}{PROB}{c}") + 1 for c in classes if f"{prefix}{PROB}{c}" in names]
            scale = max(ds.width, ds.height) / max_px
            shape = (max(1, round(ds.height / max(scale, 1))), max(1, round(ds.width / max(scale, 1))))
            corners = pixel_corners_lonlat(ds.transform, ds.crs, ds.width, ds.height)
            index = ds.read(band, out_shape=shape)
            probs = ds.read(probs_bands, out_shape=(len(probs_bands), *shape)) if probs_bands else None
            nodata = ds.nodata if ds.nodata is not None else -1.0
    finally:
        if mem is not None:
            mem.close()
    valid = index != nodata
    rgba = np.zeros((*shape, 4), dtype=np.uint8)
    if mode == "class":
        colors = class_colors(classes, ordered=ordered)
        lut = np.array([_hex(colors[c]) for c in classes], dtype=np.uint8)
        idx = np.clip(index, 0, len(classes) - 1).astype(int)
        rgba[..., :3] = lut[idx]
    else:
        if probs is None or len(probs_bands) != len(classes):
            raise RasterError("The GeoTIFF holds no probability bands", hint="Draw it in mode 'class'.")
        if mode == "probability":
            if class_name not in classes:
                raise ConfigError(f"Unknown class {class_name!r}", hint=f"Use one of: {', '.join(classes)}.")
            values = probs[classes.index(class_name)]
        else:
            p = np.clip(probs, 1e-12, 1.0)
            values = -(p * np.log(p)).sum(axis=0) / np.log(len(classes))
        rgba[..., :3] = ramp(values)
    rgba[..., 3] = np.where(valid, 255, 0)
    return array_layer(rgba, corners, opacity=opacity)


def prediction_classes(source: str | Path | bytes, target: str | None = None) -> list[str]:
    """Class names stored in a prediction GeoTIFF (tag ``classes`` of its class-index band)."""
    import rasterio
    from rasterio.io import MemoryFile

    mem = MemoryFile(source) if isinstance(source, bytes) else None
    try:
        with mem.open() if mem is not None else rasterio.open(source) as ds:
            names = list(ds.descriptions)
            name = f"{target}_class_index" if target else "class_index"
            if name not in names:
                return []
            tag = ds.tags(names.index(name) + 1).get("classes", "")
    finally:
        if mem is not None:
            mem.close()
    return [part.split("=", 1)[1] for part in tag.split(",") if "=" in part]


def hide_traces(fig, keep: Sequence[str] = ("scene footprint",)) -> None:
    """Hide a map's vector traces (legend-only) except those named in ``keep`` (raster view)."""
    for trace in fig.data:
        if trace.name not in keep:
            trace.visible = "legendonly"
