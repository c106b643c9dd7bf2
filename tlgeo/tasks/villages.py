"""Task ``villages``: census indicators (levels or fractions) → one ordered multi-task target per indicator per grid
tile.

A thin adapter: the label algorithms live in :mod:`tlgeo.labels.villages` (imported when needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tlgeo.config import TaskSettings, VillageLabelConfig

if TYPE_CHECKING:
    from tlgeo.labels import TaskData


class VillagesTask:
    """Village indicators from a census (settings section ``[villages]``)."""

    name = "villages"
    title = "Village indicators (census)"
    target_kind = "ordered"
    section = "villages"

    def label_settings(self, settings: TaskSettings) -> VillageLabelConfig:
        """The ``[villages]`` settings."""
        return settings.villages

    def find_labels(self, taskdir: Path) -> list[Path]:
        """The task's village file (``villages.csv``, ``.geojson``, ``.gpkg``, …)."""
        from tlgeo.labels.villages import find_village_file

        return [find_village_file(Path(taskdir))]

    def load(self, taskdir: Path, settings: TaskSettings) -> TaskData:
        """Grid tiles labelled by the village they hold (one target per indicator)."""
        from tlgeo.labels.villages import load_villages_task

        data = load_villages_task(taskdir, settings)
        data.ordered = dict.fromkeys(data.targets, True)
        return data

    def add_labels_parser(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """``tlgeo labels villages``."""
        v = subparsers.add_parser("villages", help="village indicators → per-tile multi-task labels")
        v.add_argument("--indicators", type=Path, required=True, help="CSV, GeoJSON or GPKG of villages")
        v.add_argument("--data", type=Path, required=True, help="task folder with imagery/")
        v.add_argument("--out", type=Path, required=True, help="labelled tile index GeoJSON to write")
        v.add_argument(
            "--columns", default=None, help="indicator columns, comma-separated (default ASSET,BF,CHH,FC,MSL,MSW,LIT)"
        )
        v.add_argument(
            "--weight-column",
            default=None,
            help="column weighting villages that share a tile, e.g. population ([villages] weight_column)",
        )
        v.add_argument("--overwrite", action="store_true")
        v.set_defaults(func=_run_labels)
        return v


def _run_labels(args: argparse.Namespace) -> int:
    from tlgeo.labels.villages import run_labels_villages

    return run_labels_villages(args)
