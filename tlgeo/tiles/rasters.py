"""What a raster is: :class:`RasterInfo` (CRS, transform, bands, dtype, nodata; PNG/JPEG via world files), the
:class:`Tile` record, and finding rasters in a folder."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.transform import Affine, array_bounds, from_bounds

from tlgeo._utils import check_file
from tlgeo.errors import DataFileError, GeoreferenceError, RasterError

RASTER_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


WORLD_FILE_SUFFIXES = {
    ".png": (".pgw", ".pngw", ".wld"),
    ".jpg": (".jgw", ".jpgw", ".wld"),
    ".jpeg": (".jgw", ".jpegw", ".wld"),
    ".tif": (".tfw", ".tifw", ".wld"),
    ".tiff": (".tfw", ".tiffw", ".wld"),
}


@dataclass(frozen=True)
class RasterInfo:
    """What a raster holds, as far as tlgeo cares."""

    path: Path
    width: int
    height: int
    count: int
    dtype: str
    crs: CRS
    transform: Affine
    nodata: float | None
    alpha_band: int | None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in ``crs``."""
        left, bottom, right, top = array_bounds(self.height, self.width, self.transform)
        return (min(left, right), min(bottom, top), max(left, right), max(bottom, top))

    @property
    def data_bands(self) -> int:
        """Band count without the alpha band."""
        return self.count - (1 if self.alpha_band else 0)

    @property
    def resolution(self) -> float:
        """Pixel size in CRS units (mean of x and y)."""
        return float((abs(self.transform.a) + abs(self.transform.e)) / 2)


@dataclass
class Tile:
    """One tile read and scaled for a backbone.

    Attributes:
        image: float32 array (H, W, C), one channel per band read, values in 0–255; invalid (nodata) pixels are 0.
        valid: bool array (H, W), True where every selected band has data.
        crs: CRS of the source raster.
        transform: Affine transform of this tile's pixels.
        path: Source file.
        window: ``(col_off, row_off, width, height)`` read from the source.
    """

    image: np.ndarray
    valid: np.ndarray
    crs: CRS
    transform: Affine
    path: Path
    window: tuple[int, int, int, int]

    @property
    def valid_fraction(self) -> float:
        """Share of pixels with data."""
        return float(self.valid.mean()) if self.valid.size else 0.0


def _world_file_crs(path: Path) -> CRS | None:
    prj = path.with_suffix(".prj")
    if prj.exists():
        try:
            return CRS.from_wkt(prj.read_text(encoding="utf-8", errors="replace").strip())
        except Exception as exc:  # rasterio raises CRSError; report it as a georeference problem
            raise GeoreferenceError(
                f"{prj} does not hold a readable CRS ({exc})",
                hint="Write the CRS as WKT into the .prj file, e.g. from QGIS or pyproj.",
                path=prj,
            ) from exc
    return None


def raster_info(
    path: str | Path,
    *,
    bounds: Sequence[float] | None = None,
    crs: CRS | str | int | None = None,
) -> RasterInfo:
    """Open a raster and check its georeference.

    Args:
        path: GeoTIFF, or PNG/JPEG with a world file (+ ``.prj``) or with ``bounds`` and ``crs``.
        bounds: ``(left, bottom, right, top)`` for an image without a world file.
        crs: CRS of ``bounds`` (or of a world file without ``.prj``).

    Raises:
        DataFileError: Missing or empty file.
        RasterError: Not a raster, or corrupt.
        GeoreferenceError: No CRS, or no georeference and no ``bounds``.
    """
    path = check_file(path, "Raster file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                transform = ds.transform
                ds_crs = ds.crs
                interp = ds.colorinterp
                info = dict(width=ds.width, height=ds.height, count=ds.count, dtype=ds.dtypes[0], nodata=ds.nodata)
    except RasterioIOError as exc:
        raise RasterError(
            f"{path} is not a readable raster ({exc})",
            hint="Use a GeoTIFF, or a PNG/JPEG with a world file; re-export the file if it is damaged.",
            path=path,
        ) from exc
    from tlgeo.limits import check_pixels

    check_pixels(path, info["width"], info["height"])
    alpha = next((i + 1 for i, c in enumerate(interp) if c == ColorInterp.alpha), None)
    if bounds is not None:
        if len(bounds) != 4 or not (bounds[0] < bounds[2] and bounds[1] < bounds[3]):
            raise GeoreferenceError(
                f"bounds for {path} must be (left, bottom, right, top) with left < right and bottom < top, "
                f"received {tuple(bounds)!r}",
                path=path,
            )
        transform = from_bounds(*bounds, info["width"], info["height"])
    elif transform.is_identity:
        raise GeoreferenceError(
            f"{path} has no georeference",
            hint=f"Put a world file ({', '.join(WORLD_FILE_SUFFIXES.get(path.suffix.lower(), ('.wld',)))}) and a .prj "
            "beside it, or give its bounds and CRS.",
            path=path,
        )
    if crs is not None:
        ds_crs = CRS.from_user_input(crs)
    if ds_crs is None:
        ds_crs = _world_file_crs(path)
    if ds_crs is None:
        raise GeoreferenceError(
            f"{path} has no CRS",
            hint="Assign one (e.g. `gdal_edit.py -a_srs EPSG:32737 FILE`) or put a .prj beside the file.",
            path=path,
        )
    return RasterInfo(path=path, crs=ds_crs, transform=transform, alpha_band=alpha, **info)


def find_rasters(folder: str | Path) -> list[Path]:
    """Raster files (``.tif``, ``.tiff``, ``.png``, ``.jpg``, ``.jpeg``) in a folder and its sub-folders, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(f"Imagery folder {folder} does not exist", hint="Put GeoTIFFs in imagery/.", path=folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
    if not files:
        raise DataFileError(
            f"No raster files in {folder}", hint=f"Add files ending in {', '.join(RASTER_SUFFIXES)}.", path=folder
        )
    return files
