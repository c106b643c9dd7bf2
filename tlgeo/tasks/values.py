"""Task ``values``: your own numeric labels — any vector file with a numeric column → a regression target.

Settings contract (``tlgeo.toml`` of a task folder holding ``imagery/`` and the labels file)::

    task = "values"
    [labels]
    file = "labels.gpkg"      # or .geojson/.json/.shp/.fgb, or .csv with lat/lon (or x/y + crs = "EPSG:…")
    column = "share"          # numeric column (a share of households, a yield, …)
    # chip_m, polygon_chips, grid_spacing_m, crs, id_column: as for the classes task
    [tiles]
    size = 16                 # chip edge in pixels, centred on each label

Labels are read and chipped exactly as by the ``classes`` task (:func:`tlgeo.tasks.chips.label_chips`): one chip
centred on each label. The target column holds floats (``NaN`` = no label). Training standardises the target on the
training tiles of each fit, trains a linear output with a mean squared error loss, and folds the mean and sd back
into the output layer, so the saved model predicts in the column's own units (mean and sd saved in the run).

Bad input is refused with one line: a column with a value that is not a number (the first one named with its row),
infinite values, fewer than 2 usable labels or a constant column. Empty values are left out and reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tlgeo._utils import from_dict
from tlgeo.config import TaskSettings
from tlgeo.errors import LabelError
from tlgeo.flags import Flag
from tlgeo.tasks.chips import POLYGON_CHIPS, ChipLabelConfig, ChipTask, chip_flags, label_chips

if TYPE_CHECKING:
    import geopandas as gpd


@dataclass(frozen=True)
class ValueLabelConfig(ChipLabelConfig):
    """The ``[labels]`` section of a ``values`` task: the fields of :class:`~tlgeo.tasks.chips.ChipLabelConfig`,
    with ``column`` the numeric column."""

    column: str = "value"


def value_config(settings: TaskSettings) -> ValueLabelConfig:
    """The ``[labels]`` section of ``settings`` as a :class:`ValueLabelConfig` (validated)."""
    return from_dict(ValueLabelConfig, settings.labels, where="tlgeo.toml [labels]")


def numeric_values(raw, path: Path, column: str) -> np.ndarray:
    """A label column as floats (``None`` where empty); text that is not a number or an infinite value is refused.

    Raises:
        LabelError: Naming the first bad value and its row (1-based data row).
    """
    import pandas as pd

    series = pd.Series(raw, dtype=object)
    text = series.map(lambda v: v.strip() if isinstance(v, str) else v)
    empty = text.isna() | text.map(lambda v: isinstance(v, str) and v.lower() in ("", "nan", "na", "null", "none"))
    nums = pd.to_numeric(text.where(~empty), errors="coerce").astype("float64")
    bad = ~empty & nums.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise LabelError(
            f"{path}: column {column!r} is not numeric: row {i + 1} holds {series.iloc[i]!r} "
            f"({int(bad.sum()):,} such value(s))",
            hint="Fix those values, or use the classes task (task = 'classes') for a class column.",
            path=path,
        )
    inf = np.isinf(nums.to_numpy())
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise LabelError(
            f"{path}: column {column!r} holds an infinite value in row {i + 1} ({int(inf.sum()):,} such value(s))",
            hint="Replace infinite values by numbers, or leave them empty (empty values are left out).",
            path=path,
        )
    return np.asarray([None if np.isnan(v) else float(v) for v in nums.to_numpy()], dtype=object)


def value_chips(
    taskdir: str | Path, settings: TaskSettings, labels_file: str | Path | None = None
) -> tuple[gpd.GeoDataFrame, str, list[str], gpd.GeoDataFrame, int]:
    """Labels file + imagery → chip index with a float target column.

    Returns:
        ``(chips, target, report, vectors, size_px)``: ``vectors`` are the labels (EPSG:4326) with a ``status``.

    Raises:
        LabelError: A non-numeric or infinite value, fewer than 2 labels on the imagery, or a constant column.
    """
    from tlgeo.labels._common import plural
    from tlgeo.tiles import INDEX_COLUMNS

    cfg = value_config(settings)
    chips, report, labels, size, path = label_chips(taskdir, settings, cfg, labels_file, convert=numeric_values)
    where = path.name
    values = chips.pop("class_name").astype("float64").to_numpy()
    if len(values) < 2 or float(np.nanstd(values)) == 0.0:
        raise LabelError(
            f"{where}: column {cfg.column!r} holds one value only ({values[0]:g}) on the "
            f"{plural(len(values), 'usable label')}",
            hint="A regression target must vary: choose another column (column = … in [labels], --column).",
            path=path,
        )
    target = cfg.column if cfg.column not in (*INDEX_COLUMNS, "label_id", "chip") else f"{cfg.column}_value"
    chips[target] = values
    used = set(chips["label_id"])
    report.append(
        f"{where}: {plural(len(used), 'label')} of {len(labels):,} → {plural(len(chips), 'chip')} of {size} px; "
        f"{cfg.column} from {values.min():g} to {values.max():g} (mean {values.mean():g}, sd {values.std():g})"
    )
    vectors = labels.rename(columns={"class_name": cfg.column}).to_crs(4326)
    vectors["status"] = np.where(vectors["label_id"].isin(used), "used", "left out")
    return chips, target, report, vectors, size


class ValuesTask(ChipTask):
    """Your own numbers: a numeric column of any vector file → regression (settings section ``[labels]``)."""

    name = "values"
    title = "Your own values (regression on any vector labels)"
    target_kind = "continuous"
    labels_help = "any labels file with a numeric column → chips for regression"
    labels_flags = chip_flags(
        "numeric column",
        Flag("--polygon-chips", f"default {ValueLabelConfig().polygon_chips}", choices=POLYGON_CHIPS),
    )

    def config(self, settings: TaskSettings) -> ValueLabelConfig:
        """The ``[labels]`` settings as :class:`ValueLabelConfig`."""
        return value_config(settings)

    def chips(self, taskdir: Path, settings: TaskSettings, labels_file: Path | None = None) -> tuple:
        """Chips with a float target (an empty class list marks it continuous; see :class:`ChipTask`)."""
        chips, target, report, vectors, size = value_chips(taskdir, settings, labels_file=labels_file)
        return chips, {target: []}, report, vectors, size, {target: True}, f"values in {target!r}"
