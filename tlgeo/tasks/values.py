"""Task ``values``: your own numeric labels — any vector file with a numeric column → a regression target.

Settings contract (``tlgeo.toml`` of a task folder holding ``imagery/`` and the labels file)::

    task = "values"
    [labels]
    file = "labels.gpkg"      # or .geojson/.json/.shp/.fgb, or .csv with lat/lon (or x/y + crs = "EPSG:…")
    column = "share"          # numeric column (a share of households, a yield, …)
    # chip_m, polygon_chips, grid_spacing_m, crs, id_column: as for the classes task
    [tiles]
    size = 16                 # chip edge in pixels, centred on each label

Labels are read and chipped exactly as by the ``classes`` task (:func:`tlgeo.tasks.classes.label_chips`): one chip
centred on each label. The target column holds floats (``NaN`` = no label). Training standardises the target on the
training tiles of each fit, trains a linear output with a mean squared error loss, and folds the mean and sd back
into the output layer, so the saved model predicts in the column's own units (mean and sd saved in the run).

Bad input is refused with one line: a column with a value that is not a number (the first one named with its row),
infinite values, fewer than 2 usable labels or a constant column. Empty values are left out and reported.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tlgeo._utils import from_dict
from tlgeo.config import TaskSettings, load_settings
from tlgeo.errors import ConfigError, LabelError
from tlgeo.flags import Flag
from tlgeo.tasks.classes import POLYGON_CHIPS, chip_flags, find_label_file, label_chips, run_chip_labels

if TYPE_CHECKING:
    import geopandas as gpd

    from tlgeo.taskdata import TaskData


@dataclass(frozen=True)
class ValueLabelConfig:
    """The ``[labels]`` section of a ``values`` task.

    Attributes:
        file: Labels file, relative to the task folder (default: the first of ``labels.gpkg``, … there).
        column: Numeric column.
        chip_m: Chip edge in metres instead of ``[tiles] size`` in pixels.
        polygon_chips: ``"representative"`` (one chip per polygon) or ``"grid"`` (a chip at every grid point inside).
        grid_spacing_m: Grid step for ``polygon_chips = "grid"``.
        crs: CRS of ``x``/``y`` columns in a CSV.
        id_column: Column identifying each label (default: its row number).
    """

    file: str | None = None
    column: str = "value"
    chip_m: float | None = None
    polygon_chips: str = "representative"
    grid_spacing_m: float | None = None
    crs: str | None = None
    id_column: str | None = None

    def __post_init__(self) -> None:
        if self.polygon_chips not in POLYGON_CHIPS:
            raise ConfigError(
                f"[labels] polygon_chips = {self.polygon_chips!r} is unknown",
                hint=f"Use one of: {', '.join(POLYGON_CHIPS)}.",
            )
        for name in ("chip_m", "grid_spacing_m"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"[labels] {name} must be > 0 metres, received {value!r}")
        if not str(self.column).strip():
            raise ConfigError("[labels] column is empty", hint="Name the numeric column, e.g. column = 'share'.")


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


class ValuesTask:
    """Your own numbers: a numeric column of any vector file → regression (settings section ``[labels]``)."""

    name = "values"
    title = "Your own values (regression on any vector labels)"
    target_kind = "continuous"
    section = "labels"

    def label_settings(self, settings: TaskSettings) -> ValueLabelConfig:
        """The ``[labels]`` settings."""
        return value_config(settings)

    def find_labels(self, taskdir: Path) -> list[Path]:
        """The labels file of a task folder."""
        settings = load_settings(taskdir, task=self.name)
        return [find_label_file(Path(taskdir), value_config(settings))]

    def load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        """Chips centred on every label with a float target (an empty class list marks it continuous)."""
        from tlgeo.taskdata import TaskData

        chips, target, report, vectors, size = value_chips(taskdir, settings)
        if size != settings.tiles.size:
            settings = dataclasses.replace(settings, tiles=dataclasses.replace(settings.tiles, size=size, stride=None))
        return TaskData(
            task=self.name,
            settings=settings,
            tiles=chips,
            targets={target: []},
            report=report,
            vectors=vectors,
            ordered={target: True},
        )

    labels_help = "any labels file with a numeric column → chips for regression"
    labels_flags = chip_flags(
        "numeric column",
        Flag("--polygon-chips", f"default {ValueLabelConfig().polygon_chips}", choices=POLYGON_CHIPS),
    )

    def run_labels(self, args: Any) -> int:
        """``tlgeo labels values``: labels file + imagery → chip index GeoJSON (checked before writing)."""

        def chips(taskdir: Path, settings: TaskSettings, labels_file: Path) -> tuple:
            chips, target, report, _, size = value_chips(taskdir, settings, labels_file=labels_file)
            return chips, report, size, f"values in {target!r}"

        return run_chip_labels(args, self.name, chips)
