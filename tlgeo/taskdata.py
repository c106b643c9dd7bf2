"""The labelled samples of a task folder: :class:`TaskData`, what every task's ``load`` returns.

Bottom layer (imports only config and schema), so tasks, labels, training and the UI can all use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tlgeo.config import TaskSettings

if TYPE_CHECKING:
    import geopandas as gpd


@dataclass
class TaskData:
    """A task folder turned into labelled tiles.

    Attributes:
        task: Registered task name (``"roads"``, ``"villages"``, ``"classes"``; see :mod:`tlgeo.tasks`).
        settings: Settings used (from ``tlgeo.toml`` and defaults).
        tiles: Tile index (see :mod:`tlgeo.tiles`) plus one int column per target; ``-1`` where there is no label
            (undriven roads, missing indicator values, tiles without a village). Roads also carry ``roughness``
            and ``driven_length_m``; villages carry ``village_id``.
        targets: Target column → ordered class names, e.g. ``{"quality": ["good", "fair", "poor"]}`` or
            ``{"ASSET": ["0", "1", "2"], ...}``. An empty list marks a continuous target (regression, ``values``
            task): its column holds floats, ``NaN`` where there is no label.
        report: Human-readable lines on what was dropped, flagged or masked and why (with counts).
        vectors: The field data as geometries in EPSG:4326: labelled road segments or villages.
        bins: Cut points used to make classes (per device for roads, per indicator for villages), saved with runs.
        network: Road lines of the task (``roads.geojson``), driven or not: where maps draw predicted quality.
        ordered: Target → whether its classes have an order (good < fair < poor, levels 0 < 1 < 2). Ordered targets
            get ``within_one`` and light-to-dark colour ramps; unordered ones (land-cover classes) do not. A target
            missing here counts as ordered (runs saved before tasks said so).
    """

    task: str
    settings: TaskSettings
    tiles: gpd.GeoDataFrame
    targets: dict[str, list[str]]
    report: list[str] = field(default_factory=list)
    vectors: gpd.GeoDataFrame | None = None
    bins: dict | None = None
    network: gpd.GeoDataFrame | None = None
    ordered: dict[str, bool] = field(default_factory=dict)

    def is_continuous(self, target: str) -> bool:
        """Whether ``target`` is a number (regression) rather than classes."""
        return not self.targets[target]

    def _has_label(self):
        import numpy as np

        cols = [
            np.isfinite(self.tiles[t].to_numpy(dtype="float64")) if not c else self.tiles[t].to_numpy() >= 0
            for t, c in self.targets.items()
        ]
        return np.logical_or.reduce(cols)

    def is_ordered(self, target: str) -> bool:
        """Whether ``target``'s classes have an order."""
        return bool(self.ordered.get(target, True))

    @property
    def multi_task(self) -> bool:
        """More than one target (villages)."""
        return len(self.targets) > 1

    def labelled(self) -> gpd.GeoDataFrame:
        """Tiles with at least one target label."""
        return self.tiles[self._has_label()]

    def unlabelled(self) -> gpd.GeoDataFrame:
        """Tiles with no label at all (e.g. roads nobody drove)."""
        return self.tiles[~self._has_label()]

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Labelled tiles per class, per target (a continuous target: ``{"n": labelled tiles}``)."""
        out = {}
        for target, classes in self.targets.items():
            if not classes:
                out[target] = {"n": int(self.tiles[target].notna().sum())}
                continue
            col = self.tiles[target]
            out[target] = {c: int((col == i).sum()) for i, c in enumerate(classes)}
        return out
