"""Cached wrappers around library calls: ``st.cache_data`` for data, ``st.cache_resource`` for models and devices.

Every cached function takes plain, hashable keys (folder paths as strings plus a fingerprint of the folder's files),
so reruns are instant and an upload or a new run invalidates exactly what changed.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from tlgeo.schema import column_prefix, prob_columns
from tlgeo.ui.uploads import folder_stamp

if TYPE_CHECKING:
    import geopandas as gpd

    from tlgeo.runs import Run
    from tlgeo.taskdata import TaskData


# --------------------------------------------------------------------------------------------- devices, backbones
def _device_report_summary() -> str:
    from tlgeo.devices import device_report

    return device_report().summary


@st.cache_resource(show_spinner=False)
def _device_future() -> Future:
    # TensorFlow takes seconds to import: start it in the background once per process, so the first page renders
    # while it loads; only pages that train or predict wait for it.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="tlgeo-devices").submit(_device_report_summary)


def device_summary(*, wait: bool = True) -> str | None:
    """What TensorFlow trains on, e.g. ``CPU (2 cores)`` or ``1 × GPU (NVIDIA H100)``.

    Args:
        wait: Wait for TensorFlow to start; with ``False``, ``None`` is returned while it is still starting.
    """
    future = _device_future()
    if not wait and not future.done():
        return None
    if not future.done():
        with st.spinner("Starting TensorFlow…"):
            return future.result()
    return future.result()


def cluster_address() -> str | None:
    """The cluster the dashboard may send prediction jobs to (``TLGEO_CLUSTER``, e.g. ``tcp://HOST:8786``)."""
    import os

    from tlgeo.distributed.cluster import CLUSTER_ENV

    return os.environ.get(CLUSTER_ENV) or None


@st.cache_data(show_spinner=False, ttl=30)
def cluster_summary(address: str) -> str | None:
    """The configured cluster and its worker count (asked at most every 30 s)."""
    from tlgeo.distributed.cluster import cluster_summary as summary

    return summary(address)


@st.cache_data(show_spinner=False)
def backbone_choices(include_test: bool) -> list[dict[str, object]]:
    """Backbones for the picker: name, whether ImageNet weights load offline now, default size, description."""
    from tlgeo.backbones import backbone_info, list_backbones

    rows = []
    for name in list_backbones(include_test=include_test):
        info = backbone_info(name)
        rows.append(
            {
                "name": name,
                "pretrained": info.pretrained,
                "offline": info.weights_offline() if info.pretrained else False,
                "default_size": info.default_size,
                "description": info.description,
            }
        )
    return rows


@st.cache_data(show_spinner="Building each backbone once to count its parameters…")
def backbone_details(include_test: bool) -> pd.DataFrame:
    """``tlgeo.backbones.backbone_table()`` as a DataFrame (the test backbone only when asked for)."""
    from tlgeo.backbones import backbone_table

    return pd.DataFrame(backbone_table(include_test=include_test))


# --------------------------------------------------------------------------------------------- task data
@st.cache_data(show_spinner="Reading imagery and labels…", max_entries=6)
def _task_data(taskdir: str, task: str, stamp: str) -> TaskData:
    from tlgeo.tasks import load_task

    return load_task(taskdir, task=task)


def task_data(taskdir: str | Path, task: str) -> TaskData:
    """``tlgeo.tasks.load_task`` cached on the folder's contents."""
    return _task_data(str(taskdir), task, folder_stamp(Path(taskdir)))


@st.cache_data(show_spinner=False, max_entries=6)
def _outlines(taskdir: str, task: str, stamp: str) -> gpd.GeoDataFrame:
    from tlgeo.viz import scene_outlines

    return scene_outlines(_task_data(taskdir, task, stamp).tiles)


def outlines(taskdir: str | Path, task: str) -> gpd.GeoDataFrame:
    """One footprint per scene of a task, in EPSG:4326."""
    return _outlines(str(taskdir), task, folder_stamp(Path(taskdir)))


@st.cache_data(show_spinner="Reading tiles…", max_entries=32)
def _thumbs(taskdir: str, task: str, stamp: str, tile_ids: tuple[str, ...], size: int) -> np.ndarray:
    from tlgeo.datasets import load_images
    from tlgeo.tiles import rgb_composite

    data = _task_data(taskdir, task, stamp)
    rows = data.tiles.set_index("tile_id").loc[list(tile_ids)].reset_index()
    return rgb_composite(load_images(rows, data.settings.tiles.bands, size, use_cache=False), data.settings.tiles.bands)


def thumbnails(taskdir: str | Path, task: str, tile_ids: list[str], size: int = 96) -> np.ndarray:
    """uint8 RGB thumbnails (N, size, size, 3) of tiles of a task."""
    return _thumbs(str(taskdir), task, folder_stamp(Path(taskdir)), tuple(tile_ids), size)


@st.cache_data(show_spinner="Measuring how ImageNet-like the tiles look…", max_entries=16)
def _similarity(taskdir: str, task: str, stamp: str, backbone: str, img_size: int) -> float:
    from tlgeo.datasets import load_images
    from tlgeo.transfer import measure_similarity

    data = _task_data(taskdir, task, stamp)
    tiles = data.labelled()
    take = np.linspace(0, len(tiles) - 1, min(64, len(tiles))).astype(int)
    bands = data.settings.tiles.bands
    images = load_images(tiles.iloc[take], bands, img_size, use_cache=False)
    return measure_similarity(images, backbone, band_names=bands.names)


def similarity(taskdir: str | Path, task: str, backbone: str, img_size: int) -> float:
    """``tlgeo.transfer.measure_similarity`` on up to 64 labelled tiles, cached."""
    return _similarity(str(taskdir), task, folder_stamp(Path(taskdir)), backbone, img_size)


# --------------------------------------------------------------------------------------------- runs and models
def _runs_stamp(folder: Path) -> str:
    """Names and file times of the run folders: changes when a run appears, disappears or is edited."""
    if not folder.is_dir():
        return ""
    parts = []
    try:
        for p in sorted(folder.iterdir()):
            if p.is_dir() and not p.name.startswith("."):
                times = []
                for f in ("config.json", "metrics.json", "model.keras", "model.skops"):
                    try:
                        times.append(str((p / f).stat().st_mtime_ns))
                    except OSError:
                        times.append("-")
                parts.append(f"{p.name}:{','.join(times)}")
    except OSError:
        return ""
    return "|".join(parts)


@st.cache_data(show_spinner=False, max_entries=16)
def _scan(runs_dir: str, task: str | None, stamp: str):
    from tlgeo.runs import scan_runs

    return scan_runs(runs_dir, task=task)


def runs(runs_dir: str | Path, task: str | None = None) -> list[Run]:
    """Valid runs (newest first), cached until a run folder appears, disappears or changes."""
    return _scan(str(runs_dir), task, _runs_stamp(Path(runs_dir)))[0]


def broken_runs(runs_dir: str | Path) -> list:
    """Run folders that cannot be used, each with the reason (:class:`tlgeo.runs.BrokenRun`)."""
    return _scan(str(runs_dir), None, _runs_stamp(Path(runs_dir)))[1]


@st.cache_resource(show_spinner=False, max_entries=16)
def clean_stale_temp(runs_dir: str) -> list[str]:
    """Remove stale temporary run folders once per process and folder; the report lines."""
    from tlgeo.runs import clean_stale_temp as clean

    return clean(runs_dir)


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)
def _predictor(run_path: str, created: str):
    import sys

    from tlgeo.predict import load_predictor
    from tlgeo.runs import load_run

    print(f"tlgeo.ui: loading the model of {run_path}", file=sys.stderr, flush=True)  # once per process (load bench)
    return load_predictor(load_run(run_path))


def predictor(run: Run):
    """``tlgeo.predict.load_predictor`` for a run, kept in memory (one per run)."""
    return _predictor(str(run.path), str(run.config.get("created", "")))


@st.cache_data(show_spinner="Preparing the run's maps…", max_entries=8)
def _run_tiles(run_path: str, created: str) -> pd.DataFrame | gpd.GeoDataFrame:
    from tlgeo.runs import load_run

    run = load_run(run_path)
    frame = run.splits()
    oof = run.oof()
    if oof is not None:
        frame = frame.merge(oof.drop(columns=["fold"], errors="ignore"), on="tile_id", how="left")
    data = run.config.get("data")
    if not data or not (Path(data) / "imagery").is_dir():
        return frame
    from tlgeo.tiles import footprints_4326, tile_index

    try:
        tc = run.tile_config
        index = footprints_4326(tile_index(Path(data) / "imagery", size=tc.size, stride=tc.step))
    except Exception:  # the data folder changed since training: fall back to tile centres
        return frame
    merged = index[["tile_id", "source", "geometry"]].merge(frame, on="tile_id", how="inner")
    return merged if len(merged) == len(frame) else frame


def run_tiles(run: Run) -> pd.DataFrame | gpd.GeoDataFrame:
    """A run's tiles with fold, block and out-of-fold predictions; footprints when its data folder still exists."""
    return _run_tiles(str(run.path), str(run.config.get("created", "")))


@st.cache_data(show_spinner=False, max_entries=16)
def _evaluation(run_path: str, created: str, target: str) -> tuple[dict, pd.DataFrame]:
    from tlgeo.metrics import classification_metrics
    from tlgeo.runs import load_run

    run = load_run(run_path)
    classes = run.targets[target]
    prefix = column_prefix(run.targets, target)
    frame = _run_tiles(run_path, created)
    needed = [f"{prefix}true", f"{prefix}pred", *prob_columns(run.targets, target)]
    if any(c not in frame for c in needed):
        from tlgeo.errors import RunError

        raise RunError(f"Run {run.run_id} has no out-of-fold predictions (oof.csv)", hint="Train the run again.")
    y = frame[f"{prefix}true"].fillna(-1).astype(int).to_numpy()
    pred = frame[f"{prefix}pred"].fillna(-1).astype(int).to_numpy()
    ok = (y >= 0) & (pred >= 0)
    probs = frame.loc[ok, needed[2:]].to_numpy(dtype="float64")
    metrics = classification_metrics(y[ok], probs, classes)
    names = np.asarray(classes, dtype=object)
    tiles = frame[ok].copy()
    tiles["true_label"], tiles["pred_label"] = names[y[ok]], names[pred[ok]]
    return metrics, tiles


def evaluation(run: Run, target: str) -> tuple[dict, pd.DataFrame]:
    """Pooled out-of-fold metrics of one target (``tlgeo.metrics.classification_metrics``) and the scored tiles
    with ``true_label`` / ``pred_label`` (footprints when the run's data folder still exists)."""
    return _evaluation(str(run.path), str(run.config.get("created", "")), target)


@st.cache_data(show_spinner=False, max_entries=4)
def _value_evaluation(run_path: str, created: str, target: str) -> tuple[dict, pd.DataFrame]:
    from tlgeo.errors import RunError
    from tlgeo.metrics import regression_metrics
    from tlgeo.runs import load_run

    run = load_run(run_path)
    prefix = "" if len(run.targets) == 1 else f"{target}_"
    frame = _run_tiles(run_path, created)
    if f"{prefix}true" not in frame or f"{prefix}pred" not in frame:
        raise RunError(f"Run {run.run_id} has no out-of-fold predictions (oof.csv)", hint="Train the run again.")
    y = pd.to_numeric(frame[f"{prefix}true"], errors="coerce").to_numpy(dtype="float64")
    p = pd.to_numeric(frame[f"{prefix}pred"], errors="coerce").to_numpy(dtype="float64")
    ok = np.isfinite(y) & np.isfinite(p)
    tiles = frame[ok].copy()
    tiles["observed"], tiles["predicted"] = y[ok], p[ok]
    tiles["residual"] = tiles["predicted"] - tiles["observed"]
    return regression_metrics(y[ok], p[ok]), tiles


def value_evaluation(run: Run, target: str) -> tuple[dict, pd.DataFrame]:
    """Pooled out-of-fold metrics of one continuous target (``tlgeo.metrics.regression_metrics``) and the scored
    tiles with ``observed``, ``predicted`` and ``residual`` (prediction − truth; footprints when the run's data
    folder still holds its tiles, else tile centres)."""
    return _value_evaluation(str(run.path), str(run.config.get("created", "")), target)


@st.cache_data(show_spinner=False, max_entries=4)
def _scenes(taskdir: str, stamp: str) -> list[str]:
    from tlgeo.tiles import find_rasters

    return [str(p) for p in find_rasters(Path(taskdir) / "imagery")]


def scenes(taskdir: str | Path) -> list[Path]:
    """Raster files in a task's ``imagery/`` folder."""
    return [Path(p) for p in _scenes(str(taskdir), folder_stamp(Path(taskdir) / "imagery"))]


@st.cache_data(show_spinner=False, max_entries=16)
def _history(run_path: str, created: str) -> pd.DataFrame:
    from tlgeo.runs import load_run

    try:
        return load_run(run_path).history()
    except pd.errors.EmptyDataError:  # features_linear fits in one step: history.csv has no rows
        return pd.DataFrame()


def history(run: Run) -> pd.DataFrame:
    """A run's epoch history (empty for strategies without epochs, e.g. ``features_linear``)."""
    return _history(str(run.path), str(run.config.get("created", "")))


def clear_runs() -> None:
    """Forget cached run listings (after a run was saved)."""
    _scan.clear()


# --------------------------------------------------------------------------------------------- labels files, bands
def _file_stamp(path: str | Path) -> str:
    try:
        st_ = Path(path).stat()
    except OSError:
        return ""
    return f"{st_.st_size}|{st_.st_mtime_ns}"


@st.cache_data(show_spinner=False, max_entries=16)
def _label_columns(path: str, stamp: str) -> dict[str, bool]:
    from tlgeo.labels.columns import label_columns

    return label_columns(path)


def label_columns(path: str | Path) -> dict[str, bool]:
    """Columns of a labels file → numeric or not (``tlgeo.labels.columns.label_columns``), cached on the file."""
    return _label_columns(str(path), _file_stamp(path))


@st.cache_data(show_spinner=False, max_entries=16)
def _raster_bands(path: str, stamp: str) -> tuple[str, list[str]]:
    from tlgeo.tiles import band_descriptions, raster_info

    return raster_info(path).dtype, band_descriptions(path)


def raster_bands(path: str | Path) -> tuple[str, list[str]]:
    """``(dtype, band descriptions)`` of a raster (one description per band, ``""`` where none), cached."""
    return _raster_bands(str(path), _file_stamp(path))


@st.cache_data(show_spinner="Drawing the composite…", max_entries=32)
def _preview(path: str, stamp: str, bands: tuple[int, int, int], scaling: str, value_range) -> np.ndarray:
    from tlgeo.config import BandConfig
    from tlgeo.tiles import scene_preview

    cfg = BandConfig(bands=bands, names=("red", "green", "blue"), scaling=scaling, value_range=value_range)
    return scene_preview(path, cfg)


def composite_preview(
    path: str | Path, bands: tuple[int, int, int], scaling: str, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """An RGB composite (uint8) of three bands of a scene (``tlgeo.tiles.scene_preview``), cached."""
    return _preview(str(path), _file_stamp(path), tuple(bands), scaling, value_range)
