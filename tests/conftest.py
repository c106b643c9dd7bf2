"""Shared fixtures: tiny rasters built in code (fixed seed, explicit CRS and Affine), isolated caches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
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


def roadrunner_frame(lines, *, distance, rough, filename, time, phone) -> pd.DataFrame:
    """A RoadRunner segment log (the app's columns, in its order) with ``rough`` in all six iri columns.

    Args:
        lines: One ``line`` cell per segment.
        distance: Segment length(s) in metres.
        rough: Roughness per segment (scalar or array).
        filename: ``YYYYMMDD_id`` per segment (or one for all).
        time: Epoch milliseconds per segment.
        phone: ``phoneID`` per segment (or one for all).
    """
    iri = dict.fromkeys(("iriXp", "iriYp", "iriZp", "iriX", "iriY", "iriZ"), rough)
    return pd.DataFrame(
        {"id": np.arange(len(lines)), "line": lines, "distance": distance, **iri}
        | {"filename": filename, "time": time, "phoneID": phone}
    )


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


def make_task_data(tmp: Path, *, n: int = 12, size: int = 32, seed: int = 0, multi: bool = False):
    """A labelled task built in code: an n × n grid of tiles whose class is visible (brightness, texture, tint).

    Roads-like (one target ``quality`` with 3 ordered classes, every 9th tile unlabelled) or villages-like (two
    targets, some values missing). Classes form small spatial patches so spatial folds are meaningful.
    """
    from tlgeo.config import TaskSettings, TileConfig
    from tlgeo.labels import TaskData
    from tlgeo.tiles import tile_index

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 3, size=((n + 1) // 2, (n + 1) // 2))
    cls = np.kron(coarse, np.ones((2, 2), dtype=int))[:n, :n]
    img = np.zeros((3, n * size, n * size), np.uint8)
    for r in range(n):
        for c in range(n):
            k = cls[r, c]
            tile = rng.normal([60, 130, 200][k], 25 if k != 1 else 5, size=(3, size, size))
            if k == 2:
                tile[0] += 40
            img[:, r * size : (r + 1) * size, c * size : (c + 1) * size] = np.clip(tile, 0, 255)
    path = write_geotiff(tmp / "scene.tif", img)
    index = tile_index(path, size=size)
    y = cls[index["row"].to_numpy(), index["col"].to_numpy()]
    settings = TaskSettings(task="villages" if multi else "roads", tiles=TileConfig(size=size))
    if multi:
        index["A"] = y
        b = (y > 0).astype(int)
        b[::7] = -1
        index["B"] = b
        targets = {"A": ["0", "1", "2"], "B": ["0", "1"]}
    else:
        y = y.copy()
        y[::9] = -1
        index["quality"] = y
        targets = {"quality": ["good", "fair", "poor"]}
    return TaskData(task=settings.task, settings=settings, tiles=index, targets=targets, report=["built in code"])


def train_saved_run(tmp: Path, runs: Path, config, **task_kw):
    """``make_task_data(tmp, **task_kw)`` trained with ``config`` (a ``TrainConfig``) and saved under ``runs``, with
    a backbone cache of its own (``tmp/cache``) → (task, run)."""
    from tlgeo.runs import save_run
    from tlgeo.train import train

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TLGEO_CACHE", str(tmp / "cache"))
        task = make_task_data(tmp, **task_kw)
        return task, save_run(train(task, config), task.settings, runs)


@pytest.fixture
def roads_task(tmp_path):
    return make_task_data(tmp_path)


@pytest.fixture
def villages_task(tmp_path):
    return make_task_data(tmp_path, multi=True)
