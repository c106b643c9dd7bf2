"""The roughness segment table both log formats produce: its columns, device names, times, empty frames."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from tlgeo.errors import LabelError

#: A raw-log segment spanning a GPS gap longer than this (s) is flagged.
GPS_GAP_S = 5.0


SEGMENT_COLUMNS = [
    "segment_id",
    "device_id",
    "source_file",
    "source_format",
    "index_name",
    "roughness_raw",
    "gain",
    "roughness",
    "rms_acc",
    "iri_proxy",
    "speed_kmh",
    "length_m",
    "distance_m",
    "duration_s",
    "n_samples",
    "start_time",
    "class_index",
    "label",
    "flagged",
    "flag_reason",
    "geometry",
]


_DATE_SUFFIX = re.compile(r"[_-](?:\d{8}|\d{4}-\d{2}-\d{2})(?:[_-]?\d{4,6})?$")


def _device_from_name(name: str) -> str:
    stem = name
    for suffix in (".gz", ".csv"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return _DATE_SUFFIX.sub("", stem) or stem


def _parse_time(series: pd.Series, where: str, path: Path | None) -> tuple[np.ndarray, bool, list[str]]:
    """Seconds (float, NaN where unreadable), whether they are epoch seconds, and report lines."""
    notes: list[str] = []
    if pd.api.types.is_numeric_dtype(series.dtype):
        t = series.to_numpy(dtype="float64", na_value=np.nan)
    else:
        num = pd.to_numeric(series, errors="coerce")
        if num.notna().sum() >= 0.5 * series.notna().sum() and num.notna().any():
            t = num.to_numpy(dtype="float64", na_value=np.nan)
        else:
            dt = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
            if dt.notna().sum() < 0.5 * max(1, int(series.notna().sum())):
                example = series.dropna().astype(str).iloc[0] if series.notna().any() else ""
                raise LabelError(
                    f"{where}: time values such as {example!r} are neither seconds nor ISO 8601 times",
                    hint="Write time as seconds (e.g. 1718000000.25) or ISO 8601 (2024-06-10T08:30:00.250Z).",
                    path=path,
                )
            t = ((dt - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(
                dtype="float64", na_value=np.nan
            )
            return t, True, notes
    t = t.astype("float64", copy=True)
    t[~np.isfinite(t)] = np.nan
    med = np.nanmedian(t) if np.isfinite(t).any() else np.nan
    if med > 1e11:  # epoch milliseconds (seconds this large would be after the year 5000)
        t = t / 1000.0
        notes.append("time read as epoch milliseconds")
        med /= 1000.0
    return t, bool(med > 1e8), notes


def _empty_segments() -> gpd.GeoDataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in SEGMENT_COLUMNS if c != "geometry"})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries([], crs=4326), crs=4326)


def _segment_frame(data: dict, geoms: np.ndarray) -> gpd.GeoDataFrame:
    n = len(geoms)
    base: dict = {c: np.full(n, np.nan) for c in SEGMENT_COLUMNS if c != "geometry"}
    base.update(
        {
            "gain": np.ones(n),
            "class_index": np.full(n, -1, dtype="int64"),
            "label": np.full(n, None, dtype=object),
            "flagged": np.zeros(n, dtype=bool),
            "flag_reason": np.full(n, "", dtype=object),
            "start_time": np.full(n, None, dtype=object),
            "n_samples": np.zeros(n, dtype="int64"),
        }
    )
    base.update(data)
    frame = pd.DataFrame({c: base[c] for c in SEGMENT_COLUMNS if c != "geometry"})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
