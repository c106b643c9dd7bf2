"""Shared fixtures: tiny rasters built in code (fixed seed, explicit CRS and Affine), isolated caches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def write_geotiff(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | int | None = "EPSG:32737",
    transform=None,
    nodata: float | None = None,
) -> Path:
    """Write ``data`` (bands, rows, cols) as a GeoTIFF; default origin near Nairobi in UTM 37S at 1 m/px."""
    if data.ndim == 2:
        data = data[None]
    transform = transform or from_origin(257000.0, 9858000.0, 1.0, 1.0)
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": data.dtype,
        "transform": transform,
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(42)


@pytest.fixture
def rgb_scene(tmp_path, rng) -> Path:
    """A 3-band uint8 scene of 100 × 130 px (not a multiple of common tile sizes)."""
    data = rng.integers(0, 256, size=(3, 100, 130), dtype=np.uint8)
    return write_geotiff(tmp_path / "scene.tif", data)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own tlgeo cache unless it asks for the shared one (converted weights are slow to make)."""
    shared = os.environ.get("TLGEO_TEST_SHARED_CACHE")
    if shared:
        monkeypatch.setenv("TLGEO_CACHE", shared)
    else:
        monkeypatch.setenv("TLGEO_CACHE", str(tmp_path_factory.getbasetemp() / "tlgeo-cache"))
