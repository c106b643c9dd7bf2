"""Up-front checks of input imagery, before any work: CRS convertible to WGS84, size within limits, pixels valid.

These run in the command layer (``labels``, ``train``, ``compare``, ``predict``) so a bad file fails in one line
before minutes of work, never as a traceback at the end.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tlgeo.errors import DataFileError, GeoreferenceError

if TYPE_CHECKING:
    from tlgeo.taskdata import TaskData

RASTER_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg")


@functools.lru_cache(maxsize=64)
def _convertible(wkt: str) -> str | None:
    """``None`` if the CRS converts to EPSG:4326, else the reason."""
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError, ProjError

    try:
        crs = CRS.from_wkt(wkt)
        if crs.is_engineering or not (crs.is_geographic or crs.is_projected or crs.is_compound):
            return f"{crs.name or 'a local'} CRS has no link to the Earth"
        t = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        area = crs.area_of_use
        x, y = (0.0, 0.0)
        if area is not None and crs.is_projected:
            x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
                (area.west + area.east) / 2, (area.south + area.north) / 2
            )
        lon, lat = t.transform(x, y, errcheck=True)
        if not (np.isfinite(lon) and np.isfinite(lat)):
            return "its coordinates do not convert to longitude/latitude"
    except (CRSError, ProjError, ValueError, TypeError) as exc:
        return " ".join(str(exc).split())[:120]
    return None


def check_crs_convertible(path: str | Path, crs) -> None:
    """Refuse a raster whose CRS cannot be converted to WGS84 (e.g. ``LOCAL_CS``).

    Raises:
        GeoreferenceError: Naming the file and what to do.
    """
    if crs is None:
        return
    reason = _convertible(crs.to_wkt())
    if reason:
        raise GeoreferenceError(
            f"{path}: its CRS cannot be converted to longitude/latitude (WGS84): {reason}",
            hint="Assign the real CRS (e.g. `gdal_edit.py -a_srs EPSG:32737 FILE`) or put a .prj beside the file.",
            path=path,
        )


def _rasters(inputs: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in RASTER_SUFFIXES)
        elif item.is_file() and item.suffix.lower() in RASTER_SUFFIXES:
            out.append(item)
    return out


def check_rasters_convertible(inputs: Iterable[str | Path]) -> None:
    """Open each raster among ``inputs`` (files and folders) and check its CRS converts to WGS84.

    Files that cannot be opened are left to the command (they are skipped there with a warning).

    Raises:
        GeoreferenceError: The first raster whose CRS cannot be converted.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    for path in _rasters(inputs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path) as ds:
                    crs = ds.crs
        except RasterioIOError:
            continue
        check_crs_convertible(path, crs)


def check_imagery_folder(folder: str | Path) -> None:
    """CRS and size checks for every raster of a task's ``imagery/`` folder (missing folder: left to the command).

    Raises:
        GeoreferenceError: A raster whose CRS cannot be converted to WGS84.
        DataFileError: A raster over the pixel limit (:mod:`tlgeo.limits`).
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    from tlgeo.limits import check_pixels

    folder = Path(folder)
    if not folder.is_dir():
        return
    for path in _rasters([folder]):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path) as ds:
                    crs, width, height = ds.crs, ds.width, ds.height
        except RasterioIOError:
            continue
        check_pixels(path, width, height)
        check_crs_convertible(path, crs)


def _valid_fraction(path: Path, window=None, out: int = 16) -> float:
    """Share of valid pixels (not nodata, not NaN/inf, not masked) in a decimated read of ``window``."""
    import rasterio

    with rasterio.open(path) as ds:
        data = ds.read(window=window, out_shape=(ds.count, out, out), masked=True)
    valid = ~np.ma.getmaskarray(data)
    if np.issubdtype(data.dtype, np.floating):
        valid &= np.isfinite(np.ma.getdata(data))
    return float(valid.all(axis=0).mean())


def check_training_imagery(data: TaskData) -> None:
    """Refuse training when the labelled tiles' pixels are all invalid (nodata, NaN, masked) in every file.

    Raises:
        DataFileError: Naming the file(s) and the fix.
    """
    from rasterio.windows import Window

    labelled = data.labelled()
    if labelled.empty or "path" not in labelled:
        return
    valid_any = False
    bad_files: list[str] = []
    for path, group in labelled.groupby("path", sort=True):
        ok = False
        has_window = "window" in group and group["window"].notna().all()
        rows = group.head(64) if len(group) > 64 else group
        if not has_window:
            ok = _valid_fraction(Path(path), None, 32) > 0
        else:
            for w in rows["window"]:
                win = Window(*w) if not isinstance(w, Window) else w
                if _valid_fraction(Path(path), win, 4) > 0:
                    ok = True
                    break
            if not ok and len(group) > len(rows):
                ok = _valid_fraction(Path(path), None, 64) > 0
        valid_any |= ok
        if not ok:
            bad_files.append(str(path))
    if not valid_any:
        raise DataFileError(
            f"Every pixel of the labelled tiles is nodata or NaN ({', '.join(bad_files[:3])}"
            f"{', …' if len(bad_files) > 3 else ''}); a model trained on it would learn nothing",
            hint="Check the imagery (nodata value, band choice, the right scene) and its overlap with the labels.",
            path=bad_files[0],
        )
