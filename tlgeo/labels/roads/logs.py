"""Vibration logs of either format: found in a folder, told apart by their header, read into one segment table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd

from tlgeo.config import RoadLabelConfig
from tlgeo.errors import DataFileError, LabelError
from tlgeo.labels._common import (
    delimiter_note,
    find_columns,
    id_list,
    read_table,
)
from tlgeo.labels.roads.phone import PHONE_ALIASES, PHONE_EXPECTED, phone_log_segments
from tlgeo.labels.roads.roadrunner import ROADRUNNER_EXPECTED, read_roadrunner_log
from tlgeo.labels.roads.segments import _empty_segments


def detect_log_format(columns: Iterable[str]) -> str | None:
    """``"roadrunner"`` or ``"phone"`` from a header's column names, ``None`` if it is neither."""
    cols = {str(c).strip().lower() for c in columns}
    if "line" in cols and ({"iriz", "irizp", "distance"} & cols):
        return "roadrunner"
    found = find_columns(cols, PHONE_ALIASES)
    if found["acc_z"] and found["time"]:
        return "phone"
    return None


def read_vibration_logs(
    paths: Sequence[str | Path], config: RoadLabelConfig | None = None
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read raw phone logs and RoadRunner logs (format detected from each header) into one table of segments.

    Args:
        paths: ``.csv`` / ``.csv.gz`` files.
        config: Road label settings.

    Returns:
        ``(segments, report)`` — segments not yet classified (see :func:`classify_segments`).

    Raises:
        LabelError: A file is neither format (the message lists both sets of expected columns), or is malformed.
        DataFileError: A file is missing, empty or unreadable.
    """
    cfg = config or RoadLabelConfig()
    if not paths:
        raise DataFileError("No vibration log given", hint="Pass phone logs or RoadRunner logs (.csv, .csv.gz).")
    frames, report = [], []
    for path in paths:
        path = Path(path)
        head: list[str] = []
        df = read_table(path, what="Vibration log", str_columns=("phoneID", "filename", "id", "device_id"), report=head)
        kind = detect_log_format(df.columns)
        if kind is None:
            raise LabelError(
                f"{path} is neither a raw phone log (expected {', '.join(PHONE_EXPECTED)}) nor a RoadRunner segment "
                f"log (expected {', '.join(ROADRUNNER_EXPECTED)}); found {id_list(df.columns, 20)}"
                f"{delimiter_note(df.columns)}",
                hint="Rename the columns to one of these formats.",
                path=path,
            )
        if kind == "phone":
            seg, rep = phone_log_segments(df, cfg, source=path.name)
        else:
            seg, rep = read_roadrunner_log(df, cfg, source=path.name)
        frames.append(seg)
        report += head + rep
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty_segments(), report
    segments = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=4326)
    return segments, report


def find_vibration_logs(folder: str | Path) -> list[Path]:
    """``.csv`` and ``.csv.gz`` files in ``folder`` (sorted).

    Raises:
        DataFileError: The folder is missing or holds no log.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataFileError(
            f"Vibration folder {folder} does not exist", hint="Put phone or RoadRunner logs in vibration/.", path=folder
        )
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
    if not files:
        raise DataFileError(f"No .csv or .csv.gz log in {folder}", hint="Add phone or RoadRunner logs.", path=folder)
    return files
