"""Web overviews of scenes: each scene rendered once to a small PNG/JPEG, cached on disk, drawn under maps offline.

An overview is one decimated read of the scene (``out_shape``, at most :data:`MAX_PX` on the long edge) with the
run's or task's bands and scaling (N bands → an RGB composite, :func:`tlgeo.tiles.rgb_composite`), encoded as JPEG
(PNG with transparency where the scene has nodata), and stored under the tlgeo cache folder keyed by the file, its
modification time and size, the bands and the size. A second request reads only the small cached file.

The image is placed on the map by its four corners in lon/lat: the scene's pixel corners through its affine
transform (exact for north-up, rotated and sheared scenes) reprojected to EPSG:4326, so a UTM scene lands where its
tiles do. Plotly draws it as a ``layout.map.layers`` image layer (a data URI, no tile server) below the traces.

No Keras, no Streamlit.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tlgeo._utils import cache_dir, to_dict
from tlgeo.config import BandConfig

#: Longest edge of an overview in pixels.
MAX_PX = 2048
#: Bump when the rendering changes, so old cached overviews are not reused.
_FORMAT = 1
#: How many times a scene was actually read to render an overview (tests check that cached overviews are not).
SCENE_READS = 0


@dataclass(frozen=True)
class Overview:
    """A cached overview of one scene.

    Attributes:
        path: The cached image (``.jpg``, or ``.png`` when part of the scene is nodata).
        corners: ``[lon, lat]`` of the top-left, top-right, bottom-right and bottom-left corners.
        source: The scene file it shows.
        size: ``(width, height)`` in pixels.
    """

    path: Path
    corners: list[list[float]]
    source: str
    size: tuple[int, int]

    def data_uri(self) -> str:
        """The image as a ``data:`` URI (for map layers; works with no network)."""
        mime = "image/png" if self.path.suffix == ".png" else "image/jpeg"
        return f"data:{mime};base64," + base64.b64encode(self.path.read_bytes()).decode("ascii")


def _display_bands(info, bands: BandConfig | None) -> tuple[tuple[int, ...], BandConfig]:
    """Bands to read (1-based) and the BandConfig describing them; a display needs no explicit choice."""
    from tlgeo.tiles import resolve_bands

    bands = bands or BandConfig()
    if bands.bands is not None:
        return resolve_bands(info, bands), bands
    chosen = (1, 2, 3) if info.data_bands >= 3 else (1, 1, 1)
    return chosen, bands


def _key(path: Path, bands: BandConfig | None, max_px: int) -> str:
    st = path.stat()
    parts = [str(path.resolve()), st.st_mtime_ns, st.st_size, to_dict(bands) if bands else None, max_px, _FORMAT]
    return hashlib.sha1(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:20]


def pixel_corners_lonlat(transform, crs, width: int, height: int) -> list[list[float]]:
    """``[lon, lat]`` of a raster's four pixel corners (top-left, top-right, bottom-right, bottom-left).

    The corners go through the affine ``transform`` (so rotation and shear are honoured) and are reprojected from
    ``crs`` to EPSG:4326.
    """
    from rasterio.warp import transform as warp_transform

    px = [(0, 0), (width, 0), (width, height), (0, height)]
    xs, ys = zip(*[transform * p for p in px], strict=True)
    if crs is not None and crs.to_epsg() != 4326:
        xs, ys = warp_transform(crs, "EPSG:4326", list(xs), list(ys))
    return [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]


def _stretch(data: np.ndarray, mask: np.ndarray | None, percentiles: Sequence[float]) -> list[tuple[float, float]]:
    """Per-band percentile stretch measured on a sample of the valid pixels of the overview itself."""
    stats = []
    keep = None if mask is None else ~mask.ravel()[::7]
    for band in data:
        values = band.ravel()[::7]
        values = (values if keep is None else values[keep]).astype("float64")
        values = values[np.isfinite(values)]
        if values.size == 0:
            stats.append((0.0, 1.0))
            continue
        lo, hi = np.percentile(values, list(percentiles))
        stats.append((float(lo), float(hi) if hi > lo else float(lo) + 1.0))
    return stats


def render_overview(
    path: str | Path,
    bands: BandConfig | None = None,
    *,
    max_px: int = MAX_PX,
    cache: str | Path | None = None,
) -> Overview:
    """The overview of a scene: rendered once (one decimated read), then served from the on-disk cache.

    Args:
        path: A raster tlgeo reads (GeoTIFF, or PNG/JPEG with a world file and ``.prj``).
        bands: Bands and scaling of the run or task; N bands are shown as an RGB composite (channels named
            red/green/blue, else the first three). ``None``: bands 1-2-3 (or the one band as grey), 8-bit data
            as is, other data types stretched 2–98 %.
        max_px: Longest edge of the overview.
        cache: Cache folder (default: ``overviews/`` in the tlgeo cache folder).

    Raises:
        RasterError / GeoreferenceError / BandError: the scene cannot be read or has no georeference.
    """
    global SCENE_READS
    import rasterio
    from PIL import Image
    from rasterio.enums import MaskFlags
    from rasterio.errors import NotGeoreferencedWarning

    from tlgeo.errors import GeoreferenceError
    from tlgeo.tiles import band_stats, raster_info, rgb_composite

    path = Path(path)
    folder = Path(cache) if cache is not None else cache_dir("overviews")
    folder.mkdir(parents=True, exist_ok=True)
    key = _key(path, bands, max_px)
    meta = folder / f"{key}.json"
    if meta.exists():
        try:
            saved = json.loads(meta.read_text(encoding="utf-8"))
            image = folder / saved["file"]
            if image.exists():
                return Overview(image, saved["corners"], saved["source"], tuple(saved["size"]))
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry is rendered again
    info = raster_info(path)
    if info.crs is None:
        raise GeoreferenceError(f"{path} has no CRS; it cannot be placed on a map", path=path)
    chosen, cfg = _display_bands(info, bands)
    scale = max(info.width, info.height) / max_px
    shape = (max(1, round(info.height / max(scale, 1))), max(1, round(info.width / max(scale, 1))))
    unique = sorted(set(chosen))
    pick = [unique.index(b) for b in chosen]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            SCENE_READS += 1
            raw = ds.read(unique, out_shape=(len(unique), *shape))
            all_valid = all(flags == [MaskFlags.all_valid] for flags in ds.mask_flag_enums)
            mask = None
            if not all_valid:
                per_band = ds.read_masks(unique, out_shape=(len(unique), *shape))
                mask = (per_band[pick] == 0).any(axis=0)
            if info.alpha_band:
                alpha = ds.read(info.alpha_band, out_shape=shape) == 0
                mask = alpha if mask is None else mask | alpha
    if mask is not None and not mask.any():
        mask = None
    data = raw[pick]
    if cfg.scaling == "percentile" or (cfg.scaling == "none" and info.dtype != "uint8"):
        stats = _stretch(data, mask, cfg.percentiles)
    else:
        stats = band_stats(path, cfg, info)
    if data.dtype == np.uint8 and all(tuple(s) == (0.0, 255.0) for s in stats):
        scaled = np.moveaxis(data, 0, -1)  # 8-bit shown as it is
    else:
        scaled = np.empty((*shape, len(chosen)), dtype="float32")
        for k, (lo, hi) in enumerate(stats):
            band = scaled[..., k]
            np.subtract(data[k], np.float32(lo), out=band, casting="unsafe")
            band *= np.float32(255.0 / (hi - lo))
        np.nan_to_num(scaled, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    rgb = rgb_composite(scaled[None], cfg)[0]
    if mask is not None:
        rgb = np.where(mask[..., None], 0, rgb).astype(np.uint8)
    corners = pixel_corners_lonlat(info.transform, info.crs, info.width, info.height)
    if mask is not None:
        rgba = np.dstack([rgb, np.where(mask, 0, 255).astype(np.uint8)])
        img, suffix, kwargs = Image.fromarray(rgba, "RGBA"), ".png", {"optimize": False}
    else:
        img, suffix, kwargs = Image.fromarray(rgb, "RGB"), ".jpg", {"quality": 85}
    target = folder / f"{key}{suffix}"
    tmp = folder / f".{key}.{os.getpid()}{suffix}"
    img.save(tmp, format="PNG" if suffix == ".png" else "JPEG", **kwargs)
    os.replace(tmp, target)  # atomic: a reader sees the whole image or none
    record = {"file": target.name, "corners": corners, "source": str(path), "size": [shape[1], shape[0]]}
    tmp = folder / f".{key}.{os.getpid()}.json"
    tmp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(tmp, meta)
    return Overview(target, corners, str(path), (shape[1], shape[0]))


def image_layer(source: str, corners: Sequence[Sequence[float]], *, opacity: float = 1.0) -> dict:
    """A plotly map layer drawing an image (URI) by its four lon/lat corners, below the traces."""
    return {
        "sourcetype": "image",
        "source": source,
        "coordinates": [[float(c[0]), float(c[1])] for c in corners],
        "below": "traces",
        "opacity": float(opacity),
    }


def array_layer(
    rgba: np.ndarray, corners: Sequence[Sequence[float]], *, opacity: float = 1.0, min_px: int = 512
) -> dict:
    """A map layer from an (H, W, 4) uint8 RGBA array (e.g. a prediction raster) by its four lon/lat corners.

    A small array (one cell per predicted tile) is first enlarged by an integer factor with nearest-neighbour
    repetition so that its long edge reaches ``min_px``: the map's image source resamples linearly, which would
    otherwise smear each cell into its neighbours and show smooth blobs where the prediction has sharp tile edges.
    """
    from PIL import Image

    factor = max(1, -(-int(min_px) // max(1, max(rgba.shape[:2]))))
    if factor > 1:
        rgba = np.repeat(np.repeat(rgba, factor, axis=0), factor, axis=1)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba, dtype=np.uint8), "RGBA").save(buf, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return image_layer(uri, corners, opacity=opacity)


def imagery_layers(
    scenes: Sequence[str | Path],
    bands: BandConfig | None = None,
    *,
    opacity: float = 1.0,
    max_px: int = MAX_PX,
    cache: str | Path | None = None,
) -> list[dict]:
    """Map image layers of scenes (their cached overviews), for ``layout.map.layers``.

    Scenes that cannot be placed (no CRS) are left out.
    """
    from tlgeo.errors import TlgeoError

    layers = []
    for scene in scenes:
        try:
            ov = render_overview(scene, bands, max_px=max_px, cache=cache)
        except TlgeoError:
            continue
        layers.append(image_layer(ov.data_uri(), ov.corners, opacity=opacity))
    return layers
