"""Task ``classes``: your own labels — any vector file with a class column → chips centred on each label.

Settings contract (``tlgeo.toml`` of a task folder holding ``imagery/`` and the labels file)::

    task = "classes"
    [labels]
    file = "labels.gpkg"      # or .geojson/.json/.shp/.fgb, or .csv with lat/lon (or x/y + crs = "EPSG:…")
    column = "class"          # class column: text or integer
    # ordered = false         # classes have an order (adds within_one, ordered colour ramps)
    # classes = ["water", …]  # class order; labels of other classes are dropped (reported)
    # min_class_samples = 5   # classes with fewer usable labels are rare …
    # rare = "refuse"         # … and refused (default), "drop"ped or "merge"d into "other"
    # chip_m = 30             # chip edge in metres instead of [tiles] size in pixels
    # polygon_chips = "representative"   # or "grid": several chips inside a large polygon
    # grid_spacing_m = 60     # grid step for polygon_chips = "grid" (default: the chip edge)
    # crs = "EPSG:32633"      # CRS of x/y columns of a CSV
    # id_column = "id"        # label identifier (default: row number)
    [tiles]
    size = 16                 # chip edge in pixels, centred on each label
    [tiles.bands]
    bands = [1, 2, 3]
    scaling = "percentile"

**Samples.** Every label becomes one chip (a ``size`` × ``size`` window) centred on its point: a point as it is,
a line at its midpoint, a polygon at its representative point (or, with ``polygon_chips = "grid"``, at every grid
point inside it). Chips are rows of the tile index (``tile_id``, ``path``, ``window``, footprint ``geometry``, the
target column), so spatial folds, training and prediction need nothing new; two labels in one grid cell are two
chips. A chip reaching past a scene edge is read padded and masked. A label whose pixel is nodata, or that lies
outside every scene, is counted in the report and left out. Prediction on a scene uses grid windows of the chip
size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tlgeo._utils import from_dict
from tlgeo.config import TaskSettings
from tlgeo.errors import ConfigError, LabelError
from tlgeo.flags import Flag

if TYPE_CHECKING:
    import geopandas as gpd
from tlgeo.tasks.chips import EXTRA_COLUMNS, POLYGON_CHIPS, ChipLabelConfig, ChipTask, chip_flags, label_chips

RARE_CHOICES = ("refuse", "drop", "merge")


OTHER = "other"


@dataclass(frozen=True)
class ClassLabelConfig(ChipLabelConfig):
    """The ``[labels]`` section of a ``classes`` task (see the module docstring for the contract); the fields of
    :class:`ChipLabelConfig` plus:

    Attributes:
        column: Class column (text or integer).
        ordered: The classes have an order (listed in ``classes`` order, or sorted).
        classes: Class order; labels of other classes are dropped (reported). Default: sorted values.
        min_class_samples: A class with fewer usable labels than this is rare.
        rare: ``"refuse"`` (error naming the fix), ``"drop"`` or ``"merge"`` (into ``"other"``).
    """

    column: str = "class"
    ordered: bool = False
    classes: tuple[str, ...] | None = None
    min_class_samples: int = 5
    rare: str = "refuse"

    def __post_init__(self) -> None:
        if self.rare not in RARE_CHOICES:
            raise ConfigError(
                f"[labels] rare = {self.rare!r} is unknown", hint=f"Use one of: {', '.join(RARE_CHOICES)}."
            )
        super().__post_init__()
        if self.min_class_samples < 1:
            raise ConfigError(f"[labels] min_class_samples must be at least 1, received {self.min_class_samples}")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"[labels] classes lists a class twice: {list(self.classes)!r}")


def _sort_classes(names) -> list[str]:
    names = sorted(set(names))
    try:
        return sorted(names, key=float)
    except ValueError:
        return names


def _apply_rare(chips: gpd.GeoDataFrame, cfg: ClassLabelConfig, where: str, report: list[str]) -> gpd.GeoDataFrame:
    counts = chips.groupby("label_id")["class_name"].first().value_counts()
    rare = {c: int(n) for c, n in counts.items() if n < cfg.min_class_samples}
    if not rare:
        return chips
    shown = ", ".join(f"{c!r} ({n})" for c, n in sorted(rare.items(), key=lambda kv: kv[1]))
    if cfg.rare == "refuse":
        raise LabelError(
            f"{where}: {len(rare)} class(es) have fewer than {cfg.min_class_samples} usable labels: {shown}",
            hint='Set rare = "drop" or rare = "merge" in [labels] of tlgeo.toml (or --rare drop|merge), or lower '
            "min_class_samples (--min-class-samples).",
        )
    mask = chips["class_name"].isin(list(rare))
    if cfg.rare == "drop":
        report.append(f"rare classes dropped (< {cfg.min_class_samples} labels): {shown}")
        return chips[~mask].reset_index(drop=True)
    chips = chips.copy()
    chips.loc[mask, "class_name"] = OTHER
    report.append(f"rare classes merged into {OTHER!r} (< {cfg.min_class_samples} labels): {shown}")
    return chips


def class_chips(
    taskdir: str | Path, settings: TaskSettings, labels_file: str | Path | None = None
) -> tuple[gpd.GeoDataFrame, list[str], list[str], gpd.GeoDataFrame, int, list[str]]:
    """Labels file + imagery → chip index with an integer target column.

    Returns:
        ``(chips, classes, report, vectors, size_px, target)``: ``vectors`` are the labels (EPSG:4326) with a
        ``status`` (``used``, ``outside imagery``, ``no valid pixel``, ``dropped``).

    Raises:
        LabelError: Fewer than 2 classes, rare classes (with ``rare = "refuse"``), or no label on the imagery.
    """
    from tlgeo.labels._common import plural
    from tlgeo.tiles import INDEX_COLUMNS

    cfg = class_config(settings)
    chips, report, labels, size, path = label_chips(taskdir, settings, cfg, labels_file)
    where = path.name
    n_read = len(labels)
    if cfg.classes is not None:
        known = chips["class_name"].isin(list(cfg.classes))
        if (~known).any():
            other = _sort_classes(chips.loc[~known, "class_name"])
            report.append(
                f"{where}: {plural(int((~known).sum()), 'chip')} of classes not in [labels] classes left out: {', '.join(other[:10])}"
            )
            chips = chips[known].reset_index(drop=True)
    chips = _apply_rare(chips, cfg, where, report)
    present = set(chips["class_name"])
    if cfg.classes is not None:
        classes = [c for c in cfg.classes if c in present] + (
            [OTHER] if OTHER in present and OTHER not in cfg.classes else []
        )
    else:
        classes = _sort_classes(present)
        if OTHER in classes:
            classes = [c for c in classes if c != OTHER] + [OTHER]
    if len(classes) < 2:
        raise LabelError(
            f"{where}: column {cfg.column!r} holds only one class ({', '.join(map(repr, classes)) or 'none'}) on the imagery",
            hint="A classifier needs at least 2 classes: choose another column (column = … in [labels], --column).",
            path=path,
        )
    target = cfg.column if cfg.column not in (*INDEX_COLUMNS, *EXTRA_COLUMNS, "chip") else f"{cfg.column}_class"
    chips[target] = chips["class_name"].map({c: i for i, c in enumerate(classes)}).astype("int64")
    used = set(chips["label_id"])
    counts = chips.groupby("class_name").size()
    report.append(
        f"{where}: {plural(len(used), 'label')} of {n_read:,} → {plural(len(chips), 'chip')} of {size} px; "
        + ", ".join(f"{c} {int(counts.get(c, 0))}" for c in classes)
    )
    vectors = labels.to_crs(4326)
    vectors["status"] = np.where(vectors["label_id"].isin(used), "used", "left out")
    return chips, classes, report, vectors, size, [target]


def class_config(settings: TaskSettings) -> ClassLabelConfig:
    """The ``[labels]`` section of ``settings`` as a :class:`ClassLabelConfig` (validated)."""
    return from_dict(ClassLabelConfig, settings.labels, where="tlgeo.toml [labels]")


class ClassesTask(ChipTask):
    """Your own labels: a class column of any vector file (settings section ``[labels]``)."""

    name = "classes"
    title = "Your own classes (any vector labels)"
    target_kind = "categorical"

    def config(self, settings: TaskSettings) -> ClassLabelConfig:
        """The ``[labels]`` settings as :class:`ClassLabelConfig`."""
        return class_config(settings)

    def chips(self, taskdir: Path, settings: TaskSettings, labels_file: Path | None = None) -> tuple:
        """Chips with the class column (see :class:`ChipTask`)."""
        chips, classes, report, vectors, size, (target,) = class_chips(taskdir, settings, labels_file=labels_file)
        ordered = {target: bool(class_config(settings).ordered)}
        return chips, {target: classes}, report, vectors, size, ordered, f"{len(classes)} classes in {target!r}"


_D = ClassLabelConfig()


ClassesTask.labels_help = "any labels file with a class column → chips centred on each label"


ClassesTask.labels_flags = chip_flags(
    "class column (text or integer)",
    Flag("--min-class-samples", f"default {_D.min_class_samples}", kind="int", minimum=1, maximum=10**9),
    Flag("--rare", f"rare classes (default {_D.rare})", choices=RARE_CHOICES),
    Flag("--polygon-chips", f"default {_D.polygon_chips}", choices=POLYGON_CHIPS),
)
