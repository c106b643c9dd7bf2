"""Predictions as frames: one row per tile or window (footprint, tile id, source, probabilities), merged and checked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.crs import CRS

from tlgeo.errors import (
    CompatibilityError,
    ConfigError,
    TlgeoError,
)
from tlgeo.schema import prob_column, tile_id, window_footprints

if TYPE_CHECKING:
    pass
from tlgeo.predict.predictor import PROB_DECIMALS, Predictor, label_column


def _frame(
    predictor: Predictor,
    *,
    tile_ids: Sequence[str],
    sources: Sequence[str],
    rows: Sequence[int],
    cols: Sequence[int],
    windows: np.ndarray,
    geometry: np.ndarray,
    probs: Mapping[str, np.ndarray],
    crs: CRS,
) -> gpd.GeoDataFrame:
    """Assemble the predictions frame (columns as in the module docstring)."""
    data: dict[str, Any] = {
        "tile_id": list(tile_ids),
        "source": list(sources),
        "row": np.asarray(rows, dtype="int64"),
        "col": np.asarray(cols, dtype="int64"),
        "window": [tuple(int(v) for v in w) for w in windows],
    }
    targets = predictor.targets
    for target, classes in targets.items():
        if not classes:  # a continuous target: its value, in the units of the labels
            data[label_column(targets, target, "value")] = probs[target].astype("float64").reshape(-1)
            continue
        p = np.round(probs[target].astype("float64"), PROB_DECIMALS)
        idx = p.argmax(axis=1) if len(p) else np.empty(0, dtype="int64")
        data[label_column(targets, target)] = np.asarray(classes, dtype=object)[idx] if len(p) else []
        data[label_column(targets, target, "class_index")] = idx.astype("int64")
        for k, c in enumerate(classes):
            data[prob_column(targets, target, c)] = p[:, k] if len(p) else np.empty(0)
    data["run_id"] = predictor.run_id
    data["backbone"] = predictor.backbone
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=crs), crs=crs)


def scene_frame(predictor: Predictor, source: str, info, grid, windows: np.ndarray, idx, probs) -> gpd.GeoDataFrame:
    """The prediction rows of the windows ``idx`` of one scene (grid rows ``(row, col, …)``, pixel ``windows``):
    tile ids, footprints and probabilities by :mod:`tlgeo.schema`. A scene of one window keeps its source as id."""
    single = len(grid) == 1
    return _frame(
        predictor,
        tile_ids=[source if single else tile_id(source, *grid[i][:2]) for i in idx],
        sources=[source] * len(idx),
        rows=[grid[i][0] for i in idx],
        cols=[grid[i][1] for i in idx],
        windows=windows[idx],
        geometry=window_footprints(info.transform, windows[idx]),
        probs=probs,
        crs=info.crs,
    )


def _empty_probs(predictor: Predictor) -> dict[str, np.ndarray]:
    return {t: np.empty((0, len(c) or 1), dtype="float32") for t, c in predictor.targets.items()}


def _concat(frames: list[gpd.GeoDataFrame], predictor: Predictor) -> gpd.GeoDataFrame:
    frames = [f for f in frames if f is not None]
    if not frames:
        empty = np.empty((0, 4), dtype="int64")
        return _frame(
            predictor,
            tile_ids=[],
            sources=[],
            rows=[],
            cols=[],
            windows=empty,
            geometry=np.empty(0, dtype=object),
            probs=_empty_probs(predictor),
            crs=CRS.from_epsg(4326),
        )
    crs = frames[0].crs
    frames = [f if f.crs == crs else f.to_crs(crs) for f in frames]
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)


def _skip(path: Path | str, exc: BaseException) -> str:
    return f"{path}: skipped: {exc}"


def _nothing_predicted(predictor: Predictor, errors: list[TlgeoError], what: str) -> TlgeoError:
    """One error for 'no file could be predicted', of the common class of the per-file errors."""
    kinds = {type(e) for e in errors}
    cls = kinds.pop() if len(kinds) == 1 else CompatibilityError
    reasons = "; ".join(str(e) for e in errors[:3]) + (f"; and {len(errors) - 3} more" if len(errors) > 3 else "")
    return cls(
        f"Nothing could be predicted with run {predictor.run_id}: {what} ({reasons})",
        hint="Fix the files named above, or pass imagery like the run's training imagery.",
    )


def check_batch(batch_size: int, stride: int | None = None) -> None:
    """Refuse a batch size or stride that is not a positive whole number (one line naming it)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, received batch_size={batch_size!r}")
    if stride is not None and (not isinstance(stride, int) or stride < 1):
        raise ConfigError(f"stride must be a positive number of pixels, received stride={stride!r}")
